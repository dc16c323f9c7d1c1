"""Rules and the compiled matcher.

A rule names terms to look for in a story: ``any`` (at least one must appear), ``all`` (every one
must appear) and ``none`` (none may appear). A term is a word or phrase matched as whole words
after folding (see :mod:`bot.core.text`), so case, accents, dashes and apostrophe suffixes do not
matter.

All rules are compiled together into one index keyed by a term's first folded word. Matching a
story walks its words once and looks each up in the index, so the cost per story grows with the
story's length and the number of terms that actually occur, not with the number of rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.models import Hit, Match, Story
from bot.core.text import fold_words, tokens

DEFAULT_FIELDS = ("title", "summary", "content")


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule, as validated from a rule file."""

    id: str
    title: str
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    description: str = ""
    fields: tuple[str, ...] = DEFAULT_FIELDS
    notify: tuple[str, ...] = ()
    """Chats (numeric ids or ``@channel`` usernames) that receive every match."""
    subscribable: bool = True
    """Whether people may subscribe to the rule from Telegram."""
    source: str = ""
    """Where the rule was defined (``file:line``), for messages about it."""


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    order: int
    rule: Rule
    any: tuple[int, ...]
    all: tuple[int, ...]
    none: tuple[int, ...]
    fields: frozenset[str]
    spelling: dict[int, str]


class Matcher:
    """All rules compiled once; :meth:`match` finds every rule a story satisfies."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._term_ids: dict[tuple[str, ...], int] = {}
        self._terms: list[tuple[str, ...]] = []
        # First folded word -> the terms starting with it (id, remaining words).
        self._index: dict[str, list[tuple[int, tuple[str, ...]]]] = defaultdict(list)
        self._rules_by_term: dict[int, list[_CompiledRule]] = defaultdict(list)
        self._rules: list[_CompiledRule] = []
        for rule in rules:
            self._add(rule)
        self._fields = tuple(sorted({f for r in self._rules for f in r.fields}, key=_field_order))

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r.rule for r in self._rules)

    def _term(self, text: str) -> int:
        words = fold_words(text)
        if not words:
            raise ValueError(f"term {text!r} has no letters or digits to match")
        term_id = self._term_ids.get(words)
        if term_id is None:
            term_id = len(self._terms)
            self._term_ids[words] = term_id
            self._terms.append(words)
            self._index[words[0]].append((term_id, words[1:]))
        return term_id

    def _add(self, rule: Rule) -> None:
        spelling: dict[int, str] = {}

        def ids(terms: Sequence[str]) -> tuple[int, ...]:
            out = []
            for text in terms:
                term_id = self._term(text)
                spelling.setdefault(term_id, text)
                out.append(term_id)
            return tuple(dict.fromkeys(out))

        compiled = _CompiledRule(
            order=len(self._rules),
            rule=rule,
            any=ids(rule.any),
            all=ids(rule.all),
            none=ids(rule.none),
            fields=frozenset(rule.fields),
            spelling=spelling,
        )
        if not compiled.any and not compiled.all:
            raise ValueError(f"rule {rule.id!r} needs at least one term in 'any' or 'all'")
        self._rules.append(compiled)
        # A rule can only match if one of its positive terms occurs: index it by those.
        for term_id in set(compiled.any) | set(compiled.all):
            self._rules_by_term[term_id].append(compiled)

    def _occurrences(self, story: Story) -> dict[int, list[tuple[str, int, int]]]:
        """Every indexed term found in the story: term id -> [(field, start, end)]."""
        found: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
        index = self._index
        for field in self._fields:
            toks = tokens(story.field_text(field))
            words = [t.text for t in toks]
            for i, word in enumerate(words):
                candidates = index.get(word)
                if not candidates:
                    continue
                for term_id, rest in candidates:
                    n = len(rest)
                    if n and tuple(words[i + 1 : i + 1 + n]) != rest:
                        continue
                    found[term_id].append((field, toks[i].start, toks[i + n].end))
        return found

    def match(self, story: Story) -> list[Match]:
        """The rules ``story`` satisfies, each with the hits that explain it, in rule order."""
        found = self._occurrences(story)
        if not found:
            return []
        candidates: dict[int, _CompiledRule] = {}
        for term_id in found:
            for compiled in self._rules_by_term.get(term_id, ()):
                candidates[compiled.order] = compiled
        matches = []
        for _, compiled in sorted(candidates.items()):
            hits = _evaluate(compiled, found, story)
            if hits is not None:
                matches.append(Match(compiled.rule.id, hits))
        return matches


def _in_fields(
    found: dict[int, list[tuple[str, int, int]]], term_id: int, fields: frozenset[str]
) -> list[tuple[str, int, int]]:
    return [occ for occ in found.get(term_id, ()) if occ[0] in fields]


def _evaluate(
    compiled: _CompiledRule, found: dict[int, list[tuple[str, int, int]]], story: Story
) -> tuple[Hit, ...] | None:
    fields = compiled.fields
    if any(_in_fields(found, t, fields) for t in compiled.none):
        return None
    if not all(_in_fields(found, t, fields) for t in compiled.all):
        return None
    any_hits = [t for t in compiled.any if _in_fields(found, t, fields)]
    if compiled.any and not any_hits:
        return None
    hits = []
    for term_id in dict.fromkeys((*compiled.all, *any_hits)):
        for field, start, end in _in_fields(found, term_id, fields):
            text = story.field_text(field)[start:end]
            hits.append(Hit(compiled.spelling[term_id], field, start, end, text))
    hits.sort(key=lambda h: (_field_order(h.field), h.start))
    return tuple(hits)


def _field_order(field: str) -> int:
    order = ("title", "summary", "content", "tags", "author", "link")
    return order.index(field) if field in order else len(order)


class RuleBook:
    """The rules in force, swapped as a whole on reload so that every poll and every command
    sees one consistent set."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self.by_id = {r.id: r for r in self.rules}
        self.matcher = Matcher(self.rules)

    def titles(self) -> dict[str, str]:
        return {r.id: r.title for r in self.rules}
