"""Why a story did or did not match a rule, as a readable tree (pure).

Each part of the rule's compiled condition is shown with ✓ or ✗ and, for the words that were
found, the field, the character offsets and the story's own spelling. It walks the very program
the matcher runs, so an explanation cannot disagree with a decision."""

from __future__ import annotations

from bot.core.models import Story
from bot.core.rules.matcher import (
    AllOf,
    AnyOf,
    AnyTerm,
    Matcher,
    Nearby,
    NoneOf,
    Program,
    RegexTerm,
    StoryView,
    Term,
)


def _written(term: Term) -> str:
    """The term as the rule wrote it: quoted if a phrase, with = if exact."""
    text = term.source.removeprefix("=")
    if " " in text.strip():
        text = f'"{text}"'
    return f"={text}" if term.pattern.exact is not None else text


def _where(matcher: Matcher, program: Program, view: StoryView) -> str:
    found = matcher.hits(program, view)
    if not found:
        return ""
    shown = "  ".join(f'{h.field}[{h.start}:{h.end}] "{h.text}"' for h in found[:4])
    more = f"  (+{len(found) - 4} more)" if len(found) > 4 else ""
    return f"  {shown}{more}"


def _label(program: Program) -> str:
    if isinstance(program, Term):
        fields = program.fields
        scope = f" (in {', '.join(sorted(fields))})" if fields is not None else ""
        return f"{_written(program)}{scope}"
    if isinstance(program, RegexTerm):
        return f"/{program.node.source}/"
    if isinstance(program, NoneOf):
        return "NOT"
    if isinstance(program, Nearby):
        return f"{'ONEAR' if program.ordered else 'NEAR'}/{program.distance}"
    if isinstance(program, AllOf):
        return "AND"
    assert isinstance(program, (AnyOf, AnyTerm))
    return "OR"


def _lines(matcher: Matcher, program: Program, view: StoryView, depth: int) -> list[str]:
    mark = "✓" if program.ev(view) else "✗"
    line = f"{'  ' * depth}{mark} {_label(program)}"
    if isinstance(program, (Term, RegexTerm)):
        return [line + _where(matcher, program, view)]
    out = [line]
    for child in program.children():
        out.extend(_lines(matcher, child, view, depth + 1))
    return out


def explain(matcher: Matcher, rule_id: str, story: Story) -> list[str]:
    """Lines explaining the decision of rule ``rule_id`` on ``story``."""
    compiled = matcher.by_id[rule_id]
    view = matcher.view(story)
    in_scope = compiled.applies_to(story.feed)
    program = matcher.program(compiled.order)
    matched = in_scope and program.ev(view)
    lines = [f"rule {rule_id}: {'MATCH' if matched else 'no match'}  {story.title!r}"]
    if not in_scope:
        lines.append(f"  (not applied to feed {story.feed!r}: outside the rule's feeds)")
    lines.extend(_lines(matcher, program, view, 1))
    return lines
