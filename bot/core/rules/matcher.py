"""The compiled matcher: every rule's atoms in one shared index, evaluated per story.

Every distinct word pattern of every rule is registered once, keyed by its first word (whole
words in one table, prefixes in tables per prefix length). Matching a story tokenizes each field
once and looks each word up in a cache of word -> the rules it triggers (learned from those
tables the first time a word is met, since news vocabulary repeats); word pairs and exact
spellings are looked up as such, and longer phrases verified in place. A rule is a candidate
when one of its trigger atoms occurred (:func:`bot.core.rules.model.triggers`); most rules (ORs
of plain terms) hold as soon as they are candidates, and the others are evaluated, each compiled
into a small program over pattern ids. The cost per story thus grows with its length and with
the patterns that actually occur, not with the number of rules.

The same program explains a decision (:meth:`Matcher.hits`, :mod:`bot.core.rules.explain`), so
matching and explaining cannot disagree.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, compress, filterfalse, islice, repeat

from bot.core.models import Hit, Match, Story
from bot.core.rules.ast import And, Atom, Near, Node, Not, Pattern, Regex
from bot.core.rules.model import Rule, RuleError, condition, triggers
from bot.core.rules.regex import find_all
from bot.core.text import FieldTokens

FIELD_ORDER = ("title", "summary", "content", "tags", "author", "link")
_FIELD_PREFIX = re.compile(rf"\b({'|'.join(FIELD_ORDER)}):")
_FIELD_RANK = {name: i for i, name in enumerate(FIELD_ORDER)}
_CACHE_LIMIT = 300_000
_PROGRAM_CACHE = 20_000

Occurrence = tuple[str, int, int]
"""(field, first word index, end word index exclusive)."""
Span = tuple[int, int, tuple[tuple["Term", str, int, int], ...]]
"""(first word, end word, the term occurrences that make it up) within one field."""


class StoryView:
    """One story being matched: its fields tokenized once, the patterns present in it.

    ``by_field`` holds, per field, the ids of the patterns present there, and ``present`` their
    union: enough to decide most rules. Matching itself goes from words to rules without them
    (see :meth:`Matcher.match`), so they are worked out when a rule has to be evaluated or
    explained. Word positions are known for the patterns that had to be verified in place (long
    phrases, exact phrases, prefixes followed by more words) and worked out on demand for the
    others (proximity, explanations). The view also explains the matches made from it
    (:meth:`explain`), which keep it alive until then."""

    __slots__ = (
        "_by_field",
        "_present",
        "fields",
        "matcher",
        "occurrences",
        "regex_spans",
        "scanned",
        "story",
        "verified",
    )

    def __init__(self, story: Story, matcher: Matcher) -> None:
        self.story = story
        self.matcher = matcher
        self.fields: dict[str, FieldTokens] = {}
        self.scanned: list[str] = []
        """The fields scanned, in order: those of the rules that have words."""
        self.verified: dict[str, set[int]] = {}
        """Per field, the patterns verified in place (their occurrences are recorded)."""
        self.occurrences: dict[int, list[Occurrence]] = {}
        self.regex_spans: dict[tuple[Regex, str], list[tuple[int, int]]] = {}
        self._by_field: dict[str, set[int]] | None = None
        self._present: set[int] | None = None

    @property
    def by_field(self) -> dict[str, set[int]]:
        if self._by_field is None:
            self._by_field = self.matcher.locate(self)
        return self._by_field

    @property
    def present(self) -> set[int]:
        if self._present is None:
            self._present = set().union(*self.by_field.values())
        return self._present

    def explain(self, key: int) -> tuple[Hit, ...]:
        """The hits of rule number ``key`` (:class:`Match` asks, on first use)."""
        matcher = self.matcher
        return matcher.hits(matcher.program(key), self)

    def tokens(self, name: str) -> FieldTokens:
        tok = self.fields.get(name)
        if tok is None:
            tok = self.fields[name] = FieldTokens(self.story.field_text(name))
        return tok

    def fields_of(self, pid: int) -> list[str]:
        return [name for name, pids in self.by_field.items() if pid in pids]

    def add(self, pid: int, occurrence: Occurrence) -> None:
        name = occurrence[0]
        verified = self.verified.get(name)
        if verified is None:
            self.verified[name] = {pid}
        else:
            verified.add(pid)
        found = self.occurrences.get(pid)
        if found is None:
            self.occurrences[pid] = [occurrence]
        else:
            found.append(occurrence)

    def positions(self, pid: int, pattern: Pattern) -> list[Occurrence]:
        """Every occurrence of a present pattern whose presence alone was recorded (plain words
        and two-word phrases), worked out once, when first needed."""
        found = self.occurrences.get(pid)
        if found is not None:
            return found
        found = []
        n = len(pattern.words)
        for name in self.fields_of(pid):
            tok = self.tokens(name)
            words = tok.words
            count = len(words)
            # Where the first word stands (list.index runs in C); for a prefix, at each of the
            # words the scan saw it match.
            if 0 in pattern.prefixes:
                starts = list(
                    compress(range(count), map(str.startswith, words, repeat(pattern.words[0])))
                )
            else:
                starts = _indexes(words, pattern.words[0])
            for i in starts:
                if (n == 1 or _rest_matches(pattern, words, i, count)) and (
                    pattern.exact is None or _exact_matches(pattern, tok, i)
                ):
                    found.append((name, i, i + n))
        self.occurrences[pid] = found
        return found


# -- the compiled program -----------------------------------------------------------------


class Program:
    """A compiled condition node: decides, lists its hits, and describes itself."""

    __slots__ = ()

    def ev(self, view: StoryView) -> bool:
        raise NotImplementedError

    def children(self) -> tuple[Program, ...]:
        return ()

    def hits(self, view: StoryView, out: list[tuple[str, str, int, int]]) -> None:
        """Append (term, field, start char, end char) for what makes this true node true."""
        for child in self.children():
            if child.ev(view):
                child.hits(view, out)


class Term(Program):
    """A word pattern looked for in some fields (``fields`` None: in every scanned field)."""

    __slots__ = ("fields", "pattern", "pid", "source")

    def __init__(
        self, source: str, pattern: Pattern, pid: int, fields: frozenset[str] | None
    ) -> None:
        self.source = source
        """The term as the rule wrote it."""
        self.pattern = pattern
        self.pid = pid
        self.fields = fields

    def occurrences(self, view: StoryView) -> list[Occurrence]:
        if self.pid not in view.present:
            return []
        found = view.positions(self.pid, self.pattern)
        if self.fields is None:
            return found
        return [o for o in found if o[0] in self.fields]

    def ev(self, view: StoryView) -> bool:
        pid = self.pid
        if self.fields is None:
            return pid in view.present
        by_field = view.by_field
        return any(pid in by_field.get(name, ()) for name in self.fields)

    def hits(self, view: StoryView, out: list[tuple[str, str, int, int]]) -> None:
        for name, s, e in self.occurrences(view):
            tok = view.tokens(name)
            out.append((self.source, name, tok.span(s)[0], tok.span(e - 1)[1]))


class AnyTerm(Program):
    """An OR of plain terms looked for everywhere: the most common rule, decided by a few
    dictionary lookups."""

    __slots__ = ("pids", "terms")

    def __init__(self, terms: tuple[Term, ...]) -> None:
        self.terms = terms
        self.pids = tuple(dict.fromkeys(t.pid for t in terms))  # smaller than a frozenset

    def ev(self, view: StoryView) -> bool:
        return not view.present.isdisjoint(self.pids)

    def hits(self, view: StoryView, out: list[tuple[str, str, int, int]]) -> None:
        present = view.present
        for term in self.terms:
            if term.pid in present:
                term.hits(view, out)

    def children(self) -> tuple[Program, ...]:
        return self.terms


class RegexTerm(Program):
    __slots__ = ("fields", "node")

    def __init__(self, node: Regex, fields: tuple[str, ...]) -> None:
        self.node = node
        self.fields = fields

    def spans(self, name: str, view: StoryView) -> list[tuple[int, int]]:
        key = (self.node, name)
        spans = view.regex_spans.get(key)
        if spans is None:
            spans = view.regex_spans[key] = find_all(self.node, view.story.field_text(name))
        return spans

    def ev(self, view: StoryView) -> bool:
        return any(self.spans(name, view) for name in self.fields)

    def hits(self, view: StoryView, out: list[tuple[str, str, int, int]]) -> None:
        for name in self.fields:
            for start, end in self.spans(name, view):
                out.append((f"/{self.node.source}/", name, start, end))


class AllOf(Program):
    __slots__ = ("items",)

    def __init__(self, items: tuple[Program, ...]) -> None:
        self.items = items

    def ev(self, view: StoryView) -> bool:
        return all(item.ev(view) for item in self.items)

    def children(self) -> tuple[Program, ...]:
        return self.items


class AnyOf(Program):
    __slots__ = ("items",)

    def __init__(self, items: tuple[Program, ...]) -> None:
        self.items = items

    def ev(self, view: StoryView) -> bool:
        return any(item.ev(view) for item in self.items)

    def children(self) -> tuple[Program, ...]:
        return self.items


class NoneOf(Program):
    __slots__ = ("item",)

    def __init__(self, item: Program) -> None:
        self.item = item

    def ev(self, view: StoryView) -> bool:
        return not self.item.ev(view)

    def children(self) -> tuple[Program, ...]:
        return (self.item,)

    def hits(self, view: StoryView, out: list[tuple[str, str, int, int]]) -> None:
        """Nothing: what makes a NOT true is an absence."""


class Nearby(Program):
    __slots__ = ("distance", "fields", "left", "ordered", "right")

    def __init__(
        self, left: Program, right: Program, distance: int, ordered: bool, fields: tuple[str, ...]
    ) -> None:
        self.left = left
        self.right = right
        self.distance = distance
        self.ordered = ordered
        self.fields = fields

    def ev(self, view: StoryView) -> bool:
        return any(self.spans(name, view) for name in self.fields)

    def children(self) -> tuple[Program, ...]:
        return (self.left, self.right)

    def spans(self, name: str, view: StoryView) -> list[Span]:
        result = []
        for ls, le, lh in _spans(self.left, name, view):
            for rs, re_, rh in _spans(self.right, name, view):
                if rs >= le:
                    gap = rs - le
                elif not self.ordered and ls >= re_:
                    gap = ls - re_
                else:
                    continue  # overlapping, or in the wrong order for ONEAR
                if gap <= self.distance:
                    result.append((min(ls, rs), max(le, re_), lh + rh))
        return result

    def hits(self, view: StoryView, out: list[tuple[str, str, int, int]]) -> None:
        for name in self.fields:
            for _, _, parts in self.spans(name, view):
                for term, fname, s, e in parts:
                    tok = view.tokens(fname)
                    out.append((term.source, fname, tok.span(s)[0], tok.span(e - 1)[1]))


def _spans(program: Program, name: str, view: StoryView) -> list[Span]:
    """Where a positional program (a term, an OR of them, a NEAR) occurs in field ``name``."""
    if isinstance(program, Term):
        return [
            (s, e, ((program, name, s, e),)) for f, s, e in program.occurrences(view) if f == name
        ]
    if isinstance(program, Nearby):
        return program.spans(name, view)
    assert isinstance(program, (AnyOf, AnyTerm))
    items = program.items if isinstance(program, AnyOf) else program.terms
    return [span for item in items for span in _spans(item, name, view)]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    order: int
    rule: Rule
    program: Program | None
    """None for a light rule (see :class:`Matcher`): compiled again when asked for."""
    feeds: frozenset[str] | None
    """Feed names the rule applies to (None: every feed)."""
    excluded: frozenset[str] = frozenset()
    """Feed names the rule never applies to."""
    trivial: bool = False
    """True when the rule holds whenever one of its trigger patterns is present (an OR of
    plain terms): no evaluation needed."""
    unscoped: bool = True
    """True when the rule applies to every feed."""

    def applies_to(self, feed: str) -> bool:
        return (self.feeds is None or feed in self.feeds) and feed not in self.excluded


class Matcher:
    """All rules compiled once; :meth:`match` finds every rule a story satisfies."""

    def __init__(
        self,
        rules: Iterable[Rule],
        lexicon: Mapping[str, tuple[str, ...]] | None = None,
        feed_tags: Mapping[str, Sequence[str]] | None = None,
        light: Collection[str] = (),
    ) -> None:
        """``light`` names rules (personal watches, by the hundred thousand) whose compiled
        program is not kept when they need none to be decided (ORs of plain terms for every
        feed): it is compiled again, and cached for a while, when a match's hits are asked
        for."""
        self._pattern_ids: dict[Pattern, int] = {}
        self._patterns: list[Pattern] = []
        # First word -> patterns: one-word whole-word terms (presence is enough)...
        self._single: dict[str, list[int]] = defaultdict(list)
        # ...two-word phrases, by their word pair (presence is enough)...
        self._pairs: dict[tuple[str, str], list[int]] = defaultdict(list)
        # ...one-word exact terms, by their exact spelling...
        self._exact: dict[str, list[int]] = defaultdict(list)
        self._spellings: dict[str, list[str]] = defaultdict(list)
        """Folded word -> the spellings of the one-word exact terms that fold to it."""
        # ...terms to verify in place (longer phrases, exact phrases)...
        self._placed: dict[str, list[int]] = defaultdict(list)
        # ...and terms whose first word is a prefix, per prefix length.
        self._prefix: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        # Every word met in a story so far (bounded) -> the rules triggered by the patterns it
        # makes present alone (the one-word whole-word terms it is, the one-word prefixes it
        # starts with), often none; those patterns, for the words that make some present; and,
        # for the few words that begin patterns to verify in place, those patterns.
        self._known: dict[str, tuple[int, ...]] = {}
        self._word_pids: dict[str, tuple[int, ...]] = {}
        self._verify: dict[str, tuple[int, ...]] = {}
        self._verify_keys: set[str] = set()
        self._always: list[CompiledRule] = []
        self._rules: list[CompiledRule] = []
        self._fieldsets: dict[frozenset[str], frozenset[str]] = {}
        self.by_id: dict[str, CompiledRule] = {}
        self._lexicon = dict(lexicon or {})
        self._feed_tags: Mapping[str, Sequence[str]] = feed_tags or {}
        self._dead: set[int] = set()
        self._programs: dict[int, Program] = {}
        """Programs of light rules compiled again lately (bounded)."""
        """Numbers of the rules removed since construction (their slots stay, unused)."""
        rules = list(rules)
        # The fields to scan, known before compiling so that each rule's syntax tree can be
        # dropped as soon as it is compiled (10,000 trees at once would double peak memory).
        # A field named in a query is found textually; a superset is harmless.
        fields: set[str] = set()
        for rule in rules:
            fields |= _scanned_fields(rule)
        self.fields = tuple(f for f in FIELD_ORDER if f in fields)
        by_pattern: dict[int, list[int]] = defaultdict(list)
        light = frozenset(light)
        self.refused: list[str] = []
        """Light rules left out: they do not compile (the others raise)."""
        for rule in rules:
            is_light = rule.id in light
            try:
                node = condition(rule, lexicon)
            except RuleError:
                if not is_light:
                    raise
                self.refused.append(rule.id)
                continue
            compiled, trigger_pids = self._add(rule, node, is_light)
            for pid in trigger_pids:
                by_pattern[pid].append(compiled.order)
        self._pair_keys = set(self._pairs)
        self._prefix_tables = sorted(self._prefix.items())
        """(length, prefix -> patterns) by increasing length."""
        self._exact_folded_keys = set(self._spellings)
        # What match() needs, in flat sequences: per pattern id, the numbers of the rules it
        # triggers; per rule number, the rule's id; the rules that hold as soon as they are
        # candidates (ORs of plain terms, for every feed) and those that must be checked.
        empty: tuple[int, ...] = ()
        self._orders: list[tuple[int, ...]] = [empty] * len(self._patterns)
        for pid, orders in by_pattern.items():
            self._orders[pid] = tuple(orders)
        self._always_orders = tuple(c.order for c in self._always)
        self._ids = [c.rule.id for c in self._rules]
        self._checked = {c.order for c in self._rules if not (c.trivial and c.unscoped)}

    def _add(self, rule: Rule, node: Node, light: bool = False) -> tuple[CompiledRule, set[int]]:
        """Compile one rule into the tables; returns it and its trigger patterns (empty when
        it is always a candidate, having a regular expression among its triggers)."""
        program = self._compile(node)
        trigger = triggers(node)
        assert trigger is not None  # condition() refuses rules without one
        trigger_pids = {self._pattern_ids[a.pattern] for a in trigger if isinstance(a, Atom)}
        trivial = isinstance(program, AnyTerm) and set(program.pids) == trigger_pids
        if isinstance(program, Term) and program.fields is None:
            trivial = True
        included, excluded = _scope(rule, self._feed_tags)
        unscoped = included is None and not excluded
        compiled = CompiledRule(
            len(self._rules),
            rule,
            None if light and trivial and unscoped else program,
            included,
            excluded,
            trivial,
            unscoped=unscoped,
        )
        self._rules.append(compiled)
        self.by_id[rule.id] = compiled
        if any(isinstance(a, Regex) for a in trigger):
            self._always.append(compiled)
            return compiled, set()
        return compiled, trigger_pids

    # -- changing the rules in place ------------------------------------------------------

    def can_add(self, rule: Rule) -> bool:
        """Whether :meth:`add` can take ``rule``: it looks only in fields already scanned (a
        new field means scanning every story differently: build a new matcher)."""
        return bool(self.fields) and _scanned_fields(rule) <= set(self.fields)

    def add(self, rule: Rule, light: bool = False) -> None:
        """Compile one more rule (replacing one of the same id) without recompiling the
        others: its patterns join the shared tables and the words they concern are forgotten
        by the word caches, to be learned again when next met. Raises
        :class:`~bot.core.rules.RuleError` for an invalid rule and ``ValueError`` when
        :meth:`can_add` is false."""
        node = condition(rule, self._lexicon)
        if not self.can_add(rule):
            raise ValueError(f"rule {rule.id!r} needs fields this matcher does not scan")
        if rule.id in self.by_id:
            self.remove(rule.id)
        before = len(self._patterns)
        compiled, trigger_pids = self._add(rule, node, light)
        order = compiled.order
        self._ids.append(rule.id)
        self._orders.extend([()] * (len(self._patterns) - before))
        for pid in trigger_pids:
            self._orders[pid] = (*self._orders[pid], order)
        if not trigger_pids:
            self._always_orders = (*self._always_orders, order)
        if not (compiled.trivial and compiled.unscoped):
            self._checked.add(order)
        new_lengths = False
        for pid in range(before, len(self._patterns)):
            pattern = self._patterns[pid]
            first = pattern.words[0]
            if 0 in pattern.prefixes:
                new_lengths = new_lengths or len(first) not in dict(self._prefix_tables)
            elif pattern.exact is None and len(pattern.words) == 2 and 1 not in pattern.prefixes:
                self._pair_keys.add((first, pattern.words[1]))
            elif pattern.exact is not None and len(pattern.words) == 1:
                self._exact_folded_keys.add(first)
        if new_lengths:
            self._prefix_tables = sorted(self._prefix.items())
        self._forget(_pids(self.program(order)))

    def remove(self, rule_id: str) -> bool:
        """Take one rule out (False: there was none of that id). Its patterns stay in the
        tables, triggering nothing; :attr:`waste` says how many such rules a rebuild would
        drop."""
        compiled = self.by_id.pop(rule_id, None)
        if compiled is None:
            return False
        order = compiled.order
        self._dead.add(order)
        pids = _pids(self.program(order))
        self._programs.pop(order, None)
        for pid in pids:
            if order in self._orders[pid]:
                self._orders[pid] = tuple(o for o in self._orders[pid] if o != order)
        if order in self._always_orders:
            self._always_orders = tuple(o for o in self._always_orders if o != order)
            self._always.remove(compiled)
        self._checked.discard(order)
        self._forget(pids)
        return True

    @property
    def waste(self) -> int:
        """Rules removed in place since construction (their slots are kept)."""
        return len(self._dead)

    def _forget(self, pids: Iterable[int]) -> None:
        """Drop from the word caches every word whose meaning these patterns change."""
        known = self._known
        drop: set[str] = set()
        prefixes: list[str] = []
        for pid in pids:
            pattern = self._patterns[pid]
            first = pattern.words[0]
            if 0 in pattern.prefixes:
                prefixes.append(first)
            else:
                drop.add(first)
        if prefixes:
            starts = tuple(prefixes)
            drop.update(word for word in known if word.startswith(starts))
        for word in drop:
            if known.pop(word, None) is not None:
                self._word_pids.pop(word, None)
                self._verify.pop(word, None)
                self._verify_keys.discard(word)

    @property
    def rules(self) -> tuple[Rule, ...]:
        dead = self._dead
        return tuple(r.rule for r in self._rules if r.order not in dead)

    def compiled(self, order: int) -> CompiledRule:
        """The rule number ``order`` (in the order the rules were given)."""
        return self._rules[order]

    def program(self, order: int) -> Program:
        """The compiled program of rule number ``order`` (a light rule's compiled again: its
        patterns are registered already, so it is the same program)."""
        compiled = self._rules[order]
        if compiled.program is not None:
            return compiled.program
        program = self._programs.get(order)
        if program is None:
            if len(self._programs) >= _PROGRAM_CACHE:
                self._programs.clear()
            program = self._programs[order] = self._compile(condition(compiled.rule, self._lexicon))
        return program

    @property
    def pattern_count(self) -> int:
        return len(self._patterns)

    # -- compiling ------------------------------------------------------------------------

    def _register(self, pattern: Pattern) -> int:
        pid = self._pattern_ids.get(pattern)
        if pid is not None:
            return pid
        pid = len(self._patterns)
        self._pattern_ids[pattern] = pid
        self._patterns.append(pattern)
        first = pattern.words[0]
        if 0 in pattern.prefixes:
            self._prefix[len(first)][first].append(pid)
        elif pattern.exact is None and len(pattern.words) == 1:
            self._single[first].append(pid)
        elif pattern.exact is None and len(pattern.words) == 2 and 1 not in pattern.prefixes:
            self._pairs[first, pattern.words[1]].append(pid)
        elif pattern.exact is not None and len(pattern.words) == 1:
            if pattern.exact[0] not in self._exact:
                self._spellings[first].append(pattern.exact[0])
            self._exact[pattern.exact[0]].append(pid)
        else:
            self._placed[first].append(pid)
        return pid

    def _fieldset(self, fields: frozenset[str]) -> frozenset[str] | None:
        """None when the fields cover everything scanned (no check needed); else one shared
        frozenset per distinct set (thousands of rules use the same few)."""
        if fields.issuperset(self.fields):
            return None
        return self._fieldsets.setdefault(fields, fields)

    def _compile(self, node: Node) -> Program:
        if isinstance(node, Atom):
            pid = self._register(node.pattern)
            pattern = self._patterns[pid]  # the shared copy: rules repeat terms
            return Term(node.source, pattern, pid, self._fieldset(node.fields))
        if isinstance(node, Regex):
            return RegexTerm(node, _ordered(node.fields))
        if isinstance(node, Not):
            return NoneOf(self._compile(node.item))
        if isinstance(node, Near):
            fields = _ordered(_fields_of(node.left) & _fields_of(node.right))
            return Nearby(
                self._compile(node.left),
                self._compile(node.right),
                node.distance,
                node.ordered,
                fields,
            )
        items = tuple(self._compile(item) for item in node.items)
        if isinstance(node, And):
            return AllOf(items)
        terms = tuple(i for i in items if isinstance(i, Term) and i.fields is None)
        if len(terms) == len(items):
            return AnyTerm(terms)
        return AnyOf(items)

    # -- matching -------------------------------------------------------------------------

    def _learn(self, words: Collection[str]) -> None:
        """Work out what each of ``words`` not met before stands for (see ``_known``)."""
        known = self._known
        new = set(filterfalse(known.__contains__, words))
        if len(known) + len(new) > _CACHE_LIMIT:
            known.clear()
            self._word_pids.clear()
            self._verify.clear()
            self._verify_keys.clear()
            new = set(words)
        patterns = self._patterns
        orders = self._orders
        prefix_tables = self._prefix_tables
        empty: tuple[int, ...] = ()
        for word in new:
            alone = list(self._single.get(word, empty))
            verify = list(self._placed.get(word, empty))
            size = len(word)
            for length, table in prefix_tables:
                if length > size:
                    break
                for pid in table.get(word[:length], empty):
                    pattern = patterns[pid]
                    if pattern.exact is None and len(pattern.words) == 1:
                        alone.append(pid)
                    else:
                        verify.append(pid)
            if alone:
                self._word_pids[word] = tuple(alone)
                triggered = sorted({order for pid in alone for order in orders[pid]})
                known[word] = tuple(triggered) if triggered else empty
            else:
                known[word] = empty
            if verify:
                self._verify[word] = tuple(verify)
                self._verify_keys.add(word)

    def _scan(self, view: StoryView) -> set[int]:
        """Tokenize the story's fields and return the numbers of the rules triggered by what
        they contain (see :meth:`match`)."""
        candidates = set(self._always_orders)
        update = candidates.update
        orders_of = self._orders.__getitem__
        known = self._known
        pair_keys = self._pair_keys
        verify_keys = self._verify_keys
        field_text = view.story.field_text
        for name in self.fields:
            if not field_text(name):
                continue
            tok = view.tokens(name)
            words = tok.words
            if not words:
                continue
            view.scanned.append(name)
            # One dictionary lookup per word straight to the rules it triggers, all in C (the
            # filter spares set.update an iterator for each of the many words that trigger
            # nothing); the words never met before are learned first.
            try:
                update(*filter(None, map(known.__getitem__, words)))
            except KeyError:
                self._learn(words)
                update(*filter(None, map(known.__getitem__, words)))
            if pair_keys and len(words) > 1:
                # zip reuses its tuple for every pair not kept: no allocation per word.
                pairs = pair_keys.intersection(zip(words, islice(words, 1, None), strict=False))
                if pairs:
                    update(
                        *map(orders_of, chain.from_iterable(map(self._pairs.__getitem__, pairs)))
                    )
            folded = self._exact_folded_keys.intersection(words)
            if folded:
                spelled = tok.written(chain.from_iterable(map(self._spellings.__getitem__, folded)))
                if spelled:
                    update(
                        *map(orders_of, chain.from_iterable(map(self._exact.__getitem__, spelled)))
                    )
            # Patterns that need word positions: longer phrases and exact phrases by their first
            # word, and patterns whose first word is a prefix and that go on or are exact.
            if verify_keys:
                firsts = verify_keys.intersection(words)
                if firsts:
                    verify = self._verify
                    todo = [(word, pid) for word in firsts for pid in verify[word]]
                    self._place(view, name, tok, todo)
                    if name in view.verified:
                        update(*map(orders_of, view.verified[name]))
        return candidates

    def locate(self, view: StoryView) -> dict[str, set[int]]:
        """Per scanned field of a scanned story, the ids of the patterns present there."""
        by_field: dict[str, set[int]] = {}
        known = self._known
        word_pids = self._word_pids
        for name in view.scanned:
            tok = view.tokens(name)
            words = tok.words
            wordset = set(words)
            if wordset.difference(known):  # forgotten since the scan (the cache is bounded)
                self._learn(wordset)
            found = set(chain.from_iterable(filter(None, map(word_pids.get, wordset))))
            if len(words) > 1:
                pairs = self._pair_keys.intersection(
                    zip(words, islice(words, 1, None), strict=False)
                )
                found.update(*map(self._pairs.__getitem__, pairs))
            folded = self._exact_folded_keys.intersection(wordset)
            if folded:
                spelled = tok.written(chain.from_iterable(map(self._spellings.__getitem__, folded)))
                found.update(*map(self._exact.__getitem__, spelled))
            found |= view.verified.get(name, set())
            by_field[name] = found
        return by_field

    def _place(
        self, view: StoryView, name: str, tok: FieldTokens, todo: list[tuple[str, int]]
    ) -> None:
        """Verify patterns at the positions of their first word in one field."""
        words = tok.words
        count = len(words)
        wanted = {word for word, _ in todo}
        positions: dict[str, list[int]] = {word: [] for word in wanted}
        if len(wanted) <= 3:
            for word in wanted:
                positions[word] = _indexes(words, word)
        else:  # one pass beats a search per word
            for i, word in enumerate(words):
                if word in wanted:
                    positions[word].append(i)
        for word, pid in todo:
            pattern = self._patterns[pid]
            n = len(pattern.words)
            for i in positions[word]:
                if n > 1 and not _rest_matches(pattern, words, i, count):
                    continue
                if pattern.exact is not None and not _exact_matches(pattern, tok, i):
                    continue
                view.add(pid, (name, i, i + n))

    def view(self, story: Story) -> StoryView:
        """Tokenize and scan ``story`` once; the result serves :meth:`match` and explanations."""
        view = StoryView(story, self)
        self._scan(view)
        return view

    def match(self, story: Story) -> list[Match]:
        """The rules ``story`` satisfies, in rule order. Each match's hits (which terms, where)
        are worked out when first asked for.

        The scan goes from each word straight to the rules it triggers (the rules one of whose
        trigger patterns it makes present). Most rules hold as soon as they are triggered (ORs
        of plain terms, for every feed); the others are evaluated, which works out the patterns
        present field by field, and dropped unless they hold for this story and its feed."""
        view = StoryView(story, self)
        candidates = self._scan(view)
        checked = candidates & self._checked
        if checked:
            feed = story.feed
            rules = self._rules
            for order in checked:
                compiled = rules[order]
                if not (
                    (compiled.trivial or self.program(order).ev(view))
                    and (compiled.unscoped or compiled.applies_to(feed))
                ):
                    candidates.discard(order)
        ordered = sorted(candidates)
        return list(
            map(Match, map(self._ids.__getitem__, ordered), repeat(None), repeat(view), ordered)
        )

    def hits(self, program: Program, view: StoryView) -> tuple[Hit, ...]:
        """The occurrences that make a true program true, in field and text order."""
        raw: list[tuple[str, str, int, int]] = []
        program.hits(view, raw)
        unique = dict.fromkeys(raw)
        ordered = sorted(unique, key=lambda h: (_FIELD_RANK.get(h[1], 99), h[2], h[3]))
        return tuple(
            Hit(term, name, start, end, view.story.field_text(name)[start:end])
            for term, name, start, end in ordered
        )


def _indexes(words: list[str], word: str) -> list[int]:
    """Every index of ``word`` in ``words`` (list.index runs in C)."""
    found = []
    start = 0
    try:
        while True:
            start = words.index(word, start)
            found.append(start)
            start += 1
    except ValueError:
        return found


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


def _exact_matches(pattern: Pattern, tok: FieldTokens, i: int) -> bool:
    """The story writes the words exactly as the rule does (a prefix word: it starts so)."""
    assert pattern.exact is not None
    for k, want in enumerate(pattern.exact):
        got = tok.original(i + k)
        if not (got.startswith(want) if k in pattern.prefixes else got == want):
            return False
    return True


def _scanned_fields(rule: Rule) -> set[str]:
    """The fields a rule may look in (a field named in its query is found textually)."""
    fields = set(rule.fields)
    if rule.query:
        fields.update(m.group(1) for m in _FIELD_PREFIX.finditer(rule.query))
    return fields


def _pids(program: Program) -> set[int]:
    """The pattern ids a compiled program refers to."""
    found: set[int] = set()
    todo = [program]
    while todo:
        item = todo.pop()
        if isinstance(item, Term):
            found.add(item.pid)
        elif isinstance(item, Nearby):
            todo.extend((item.left, item.right))
        else:
            todo.extend(item.children())
    return found


def _fields_of(node: Node) -> frozenset[str]:
    if isinstance(node, (Atom, Regex)):
        return node.fields
    if isinstance(node, Not):
        return _fields_of(node.item)
    if isinstance(node, Near):
        return _fields_of(node.left) | _fields_of(node.right)
    return frozenset().union(*(_fields_of(item) for item in node.items))


def _ordered(fields: frozenset[str]) -> tuple[str, ...]:
    return tuple(f for f in FIELD_ORDER if f in fields)


def _scope(
    rule: Rule, feed_tags: Mapping[str, Sequence[str]]
) -> tuple[frozenset[str] | None, frozenset[str]]:
    """The feeds a rule is limited to (None: any feed) and those it excludes, from its
    ``feeds``/``exclude_feeds`` (names, or tag:x for every feed tagged x)."""

    def resolve(items: Sequence[str]) -> frozenset[str]:
        names: set[str] = set()
        for item in items:
            if item.startswith("tag:"):
                names |= {n for n, tags in feed_tags.items() if item[4:] in tags}
            else:
                names.add(item)
        return frozenset(names)

    excluded = resolve(rule.exclude_feeds) if rule.exclude_feeds else _NO_FEEDS
    return (resolve(rule.feeds) if rule.feeds else None), excluded


_NO_FEEDS: frozenset[str] = frozenset()
