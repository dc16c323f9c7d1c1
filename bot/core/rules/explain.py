"""Why a story did or did not match a rule, as a readable tree (pure).

Each part of the rule's condition is shown with ✓ or ✗ and, for the words that were found, the
field, the character offsets and the story's own spelling."""

from __future__ import annotations

from bot.core.models import Story
from bot.core.rules.ast import And, Atom, Near, Node, Not, Regex
from bot.core.rules.matcher import Matcher, StoryView


def _where(matcher: Matcher, node: Atom | Regex, view: StoryView) -> str:
    found = list(matcher.hits(node, view))
    if not found:
        return ""
    shown = "  ".join(f'{h.field}[{h.start}:{h.end}] "{h.text}"' for h in found[:4])
    more = f"  (+{len(found) - 4} more)" if len(found) > 4 else ""
    return f"  {shown}{more}"


def _written(atom: Atom) -> str:
    """The atom as the rule wrote it: quoted if a phrase, with = if exact."""
    text = atom.source.removeprefix("=")
    if " " in text.strip():
        text = f'"{text}"'
    return f"={text}" if atom.pattern.exact is not None else text


def _lines(matcher: Matcher, node: Node, view: StoryView, depth: int) -> list[str]:
    ok = matcher.evaluate(node, view)
    mark = "✓" if ok else "✗"
    pad = "  " * depth
    if isinstance(node, Atom):
        default = node.fields >= {"title", "summary", "content"}
        scope = "" if default else f" (in {', '.join(sorted(node.fields))})"
        return [f"{pad}{mark} {_written(node)}{scope}{_where(matcher, node, view)}"]
    if isinstance(node, Regex):
        return [f"{pad}{mark} /{node.source}/{_where(matcher, node, view)}"]
    if isinstance(node, Not):
        return [f"{pad}{mark} NOT", *_lines(matcher, node.item, view, depth + 1)]
    if isinstance(node, Near):
        label = f"{'ONEAR' if node.ordered else 'NEAR'}/{node.distance}"
        return [
            f"{pad}{mark} {label}",
            *_lines(matcher, node.left, view, depth + 1),
            *_lines(matcher, node.right, view, depth + 1),
        ]
    label = "AND" if isinstance(node, And) else "OR"
    out = [f"{pad}{mark} {label}"]
    for item in node.items:
        out.extend(_lines(matcher, item, view, depth + 1))
    return out


def explain(matcher: Matcher, rule_id: str, story: Story) -> list[str]:
    """Lines explaining the decision of rule ``rule_id`` on ``story``."""
    compiled = matcher.by_id[rule_id]
    view = matcher.view(story)
    in_scope = compiled.feeds is None or story.feed in compiled.feeds
    matched = in_scope and matcher.evaluate(compiled.node, view)
    head = f"rule {rule_id}: {'MATCH' if matched else 'no match'}  {story.title!r}"
    lines = [head]
    if not in_scope:
        lines.append(f"  (not applied to feed {story.feed!r}: outside the rule's feeds)")
    lines.extend(_lines(matcher, compiled.node, view, 1))
    return lines
