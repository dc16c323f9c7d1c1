"""The compiled matcher: every rule's atoms in one shared index, evaluated per story.

Every distinct word pattern of every rule is registered once, keyed by its first word (whole
words in one table, prefixes in tables per prefix length). Matching a story tokenizes each field
once, looks each word up (through a cache of word -> candidate patterns, since news vocabulary
repeats) and verifies multi-word patterns in place; only the rules one of whose trigger atoms
occurred are then evaluated (:func:`bot.core.rules.model.triggers`). The cost per story thus
grows with its length and with the patterns that occur, not with the number of rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.core.models import Hit, Match, Story
from bot.core.rules.ast import And, Atom, Near, Node, Not, Or, Pattern, Regex, atoms
from bot.core.rules.model import Rule, condition, triggers
from bot.core.rules.regex import find_all
from bot.core.text import FieldTokens

FIELD_ORDER = ("title", "summary", "content", "tags", "author", "link")
_CACHE_LIMIT = 300_000

Occurrence = tuple[str, int, int]
"""(field, first word index, end word index exclusive)."""
Span = tuple[int, int, tuple[tuple[Atom, str, int, int], ...]]
"""(first word, end word, the atom occurrences that make it up) within one field."""


@dataclass(frozen=True, slots=True)
class CompiledRule:
    order: int
    rule: Rule
    node: Node
    feeds: frozenset[str] | None
    """Feed names the rule applies to (None: every feed)."""


@dataclass
class StoryView:
    """One story being matched: its fields tokenized once, the patterns found in it."""

    story: Story
    fields: dict[str, FieldTokens] = field(default_factory=dict)
    found: dict[int, list[Occurrence]] = field(default_factory=dict)
    regex_spans: dict[tuple[Regex, str], list[tuple[int, int]]] = field(default_factory=dict)

    def tokens(self, name: str) -> FieldTokens:
        tok = self.fields.get(name)
        if tok is None:
            tok = self.fields[name] = FieldTokens(self.story.field_text(name))
        return tok


class Matcher:
    """All rules compiled once; :meth:`match` finds every rule a story satisfies."""

    def __init__(
        self,
        rules: Iterable[Rule],
        lexicon: Mapping[str, tuple[str, ...]] | None = None,
        feed_tags: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._pattern_ids: dict[Pattern, int] = {}
        self._patterns: list[Pattern] = []
        self._whole: dict[str, list[int]] = defaultdict(list)
        self._prefix: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self._cache: dict[str, tuple[int, ...]] = {}
        self._by_pattern: dict[int, list[CompiledRule]] = defaultdict(list)
        self._always: list[CompiledRule] = []
        self._rules: list[CompiledRule] = []
        self.by_id: dict[str, CompiledRule] = {}
        fields: set[str] = set()
        for rule in rules:
            node = condition(rule, lexicon)
            compiled = CompiledRule(len(self._rules), rule, node, _scope(rule, feed_tags or {}))
            self._rules.append(compiled)
            self.by_id[rule.id] = compiled
            for atom in atoms(node):
                fields |= atom.fields
                if isinstance(atom, Atom):
                    self._register(atom.pattern)
            trigger = triggers(node)
            assert trigger is not None  # condition() refuses rules without one
            if any(isinstance(a, Regex) for a in trigger):
                self._always.append(compiled)
            else:
                for pid in {self._pattern_ids[a.pattern] for a in trigger if isinstance(a, Atom)}:
                    self._by_pattern[pid].append(compiled)
        self.fields = tuple(f for f in FIELD_ORDER if f in fields)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r.rule for r in self._rules)

    @property
    def pattern_count(self) -> int:
        return len(self._patterns)

    def _register(self, pattern: Pattern) -> None:
        if pattern in self._pattern_ids:
            return
        pid = len(self._patterns)
        self._pattern_ids[pattern] = pid
        self._patterns.append(pattern)
        first = pattern.words[0]
        if 0 in pattern.prefixes:
            self._prefix[len(first)][first].append(pid)
        else:
            self._whole[first].append(pid)

    def _candidates(self, word: str) -> tuple[int, ...]:
        """Patterns whose first word can be ``word`` (cached per word)."""
        found = self._cache.get(word)
        if found is not None:
            return found
        ids = list(self._whole.get(word, ()))
        for length, table in self._prefix.items():
            if len(word) >= length:
                ids.extend(table.get(word[:length], ()))
        result = tuple(ids)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = result
        return result

    def _scan(self, view: StoryView) -> None:
        patterns = self._patterns
        candidates = self._candidates
        found = view.found
        for name in self.fields:
            tok = view.tokens(name)
            words = tok.words
            count = len(words)
            for i, word in enumerate(words):
                for pid in candidates(word):
                    pattern = patterns[pid]
                    n = len(pattern.words)
                    if n > 1 and not _rest_matches(pattern, words, i, count):
                        continue
                    if pattern.exact is not None and not all(
                        tok.original(i + k) == pattern.exact[k] for k in range(n)
                    ):
                        continue
                    found.setdefault(pid, []).append((name, i, i + n))

    def view(self, story: Story) -> StoryView:
        """Tokenize and scan ``story`` once; the result serves :meth:`match` and explanations."""
        view = StoryView(story)
        self._scan(view)
        return view

    def match(self, story: Story) -> list[Match]:
        """The rules ``story`` satisfies, each with the hits that explain it, in rule order."""
        view = self.view(story)
        candidates: dict[int, CompiledRule] = {r.order: r for r in self._always}
        for pid in view.found:
            for compiled in self._by_pattern.get(pid, ()):
                candidates[compiled.order] = compiled
        matches = []
        for _, compiled in sorted(candidates.items()):
            if compiled.feeds is not None and story.feed not in compiled.feeds:
                continue
            if self.evaluate(compiled.node, view):
                matches.append(Match(compiled.rule.id, self.hits(compiled.node, view)))
        return matches

    # -- evaluation ---------------------------------------------------------------------

    def occurrences(self, atom: Atom, view: StoryView) -> list[Occurrence]:
        pid = self._pattern_ids.get(atom.pattern)
        if pid is None:
            return []
        return [o for o in view.found.get(pid, ()) if o[0] in atom.fields]

    def regex_spans(self, node: Regex, name: str, view: StoryView) -> list[tuple[int, int]]:
        key = (node, name)
        spans = view.regex_spans.get(key)
        if spans is None:
            spans = view.regex_spans[key] = find_all(node, view.story.field_text(name))
        return spans

    def evaluate(self, node: Node, view: StoryView) -> bool:
        if isinstance(node, Atom):
            return bool(self.occurrences(node, view))
        if isinstance(node, Regex):
            return any(self.regex_spans(node, f, view) for f in _ordered(node.fields))
        if isinstance(node, And):
            return all(self.evaluate(item, view) for item in node.items)
        if isinstance(node, Or):
            return any(self.evaluate(item, view) for item in node.items)
        if isinstance(node, Not):
            return not self.evaluate(node.item, view)
        return any(self.spans(node, name, view) for name in self.fields)

    def spans(self, node: Node, name: str, view: StoryView) -> list[Span]:
        """Where a positional node (atom, OR-group, NEAR) occurs in field ``name``."""
        if isinstance(node, Atom):
            return [
                (s, e, ((node, name, s, e),))
                for f, s, e in self.occurrences(node, view)
                if f == name
            ]
        if isinstance(node, Or):
            return [span for item in node.items for span in self.spans(item, name, view)]
        if isinstance(node, Near):
            result = []
            for ls, le, lh in self.spans(node.left, name, view):
                for rs, re_, rh in self.spans(node.right, name, view):
                    if rs >= le:
                        gap = rs - le
                    elif not node.ordered and ls >= re_:
                        gap = ls - re_
                    else:
                        continue  # overlapping, or in the wrong order for ONEAR
                    if gap <= node.distance:
                        result.append((min(ls, rs), max(le, re_), lh + rh))
            return result
        raise TypeError(f"not a positional node: {node!r}")

    def hits(self, node: Node, view: StoryView) -> tuple[Hit, ...]:
        """The occurrences that make a true node true, in field and text order."""
        found: dict[tuple[str, int, int, str], Hit] = {}

        def add(term: str, name: str, start: int, end: int) -> None:
            text = view.story.field_text(name)
            found.setdefault((name, start, end, term), Hit(term, name, start, end, text[start:end]))

        def atom_hit(atom: Atom, name: str, s: int, e: int) -> None:
            tok = view.tokens(name)
            add(atom.source, name, tok.span(s)[0], tok.span(e - 1)[1])

        def walk(item: Node) -> None:
            if isinstance(item, Atom):
                for name, s, e in self.occurrences(item, view):
                    atom_hit(item, name, s, e)
            elif isinstance(item, Regex):
                for name in _ordered(item.fields):
                    for start, end in self.regex_spans(item, name, view):
                        add(f"/{item.source}/", name, start, end)
            elif isinstance(item, (And, Or)):
                for child in item.items:
                    if self.evaluate(child, view):
                        walk(child)
            elif isinstance(item, Near):
                for name in self.fields:
                    for _, _, parts in self.spans(item, name, view):
                        for atom, fname, s, e in parts:
                            atom_hit(atom, fname, s, e)
            # NOT contributes no hits: what matters is what is absent.

        walk(node)
        order = {name: i for i, name in enumerate(FIELD_ORDER)}
        return tuple(sorted(found.values(), key=lambda h: (order.get(h.field, 99), h.start, h.end)))


def _rest_matches(pattern: Pattern, words: list[str], i: int, count: int) -> bool:
    n = len(pattern.words)
    if i + n > count:
        return False
    for k in range(1, n):
        want = pattern.words[k]
        got = words[i + k]
        if k in pattern.prefixes:
            if not got.startswith(want):
                return False
        elif got != want:
            return False
    return True


def _ordered(fields: frozenset[str]) -> list[str]:
    return [f for f in FIELD_ORDER if f in fields]


def _scope(rule: Rule, feed_tags: Mapping[str, Sequence[str]]) -> frozenset[str] | None:
    """The feed names a rule applies to, from its ``feeds``/``exclude_feeds`` (names or tag:x)."""
    if not rule.feeds and not rule.exclude_feeds:
        return None

    def resolve(items: Sequence[str]) -> set[str]:
        names: set[str] = set()
        for item in items:
            if item.startswith("tag:"):
                names |= {n for n, tags in feed_tags.items() if item[4:] in tags}
            else:
                names.add(item)
        return names

    allowed = resolve(rule.feeds) if rule.feeds else set(feed_tags)
    return frozenset(allowed - resolve(rule.exclude_feeds))
