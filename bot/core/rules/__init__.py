"""The rule language (pure): rules as written, the query language, and the compiled matcher.

See docs/rules.md for the language as users see it."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence

from bot.core.rules.matcher import Matcher
from bot.core.rules.model import DEFAULT_FIELDS, Rule, RuleError, condition
from bot.core.rules.query import QueryError, parse_query

__all__ = [
    "DEFAULT_FIELDS",
    "Matcher",
    "QueryError",
    "Rule",
    "RuleBook",
    "RuleError",
    "condition",
    "parse_query",
]


class RuleBook:
    """The rules in force: the rule files' (:attr:`rules`, :attr:`by_id`) and the personal
    watches (:attr:`watches`), compiled into one matcher and routed alike (:attr:`routes`).
    Swapped as a whole when the rule files are reloaded, so that every poll and every command
    sees one consistent set; watches come and go in place (:meth:`put_watch`), without
    recompiling the rest."""

    REBUILD_WASTE = 5_000
    """Removed rules the matcher keeps in place before it is rebuilt."""

    def __init__(
        self,
        rules: Sequence[Rule],
        lexicon: Mapping[str, tuple[str, ...]] | None = None,
        feed_tags: Mapping[str, Sequence[str]] | None = None,
        watches: Iterable[Rule] = (),
    ) -> None:
        self.rules = tuple(rules)
        self.by_id = {r.id: r for r in self.rules}
        self.lexicon = dict(lexicon or {})
        self.watches: dict[str, Rule] = {w.id: w for w in watches}
        self.refused: dict[str, Rule] = {}
        """Watches that do not compile with these rules (a lexicon list they name is gone):
        left out of the matcher, kept for the next reload (the list may come back)."""
        self.routes: Mapping[str, Rule] = ChainMap(self.by_id, self.watches)
        """Every rule a match can name, for the routing stage."""
        self.feed_tags: dict[str, Sequence[str]] = dict(feed_tags or {})
        self.matcher = self._build()

    def _build(self) -> Matcher:
        """The matcher of the file rules and the watches; a watch that no longer compiles (a
        lexicon list it names is gone) is left out."""
        matcher = Matcher(
            (*self.rules, *self.watches.values()),
            self.lexicon,
            self.feed_tags,
            light=self.watches.keys(),
        )
        for refused in matcher.refused:
            self.refused[refused] = self.watches.pop(refused)
        return matcher

    @property
    def every_watch(self) -> list[Rule]:
        """The watches in force and those refused, for building the next rule book."""
        return [*self.watches.values(), *self.refused.values()]

    def with_watches(self, watches: Iterable[Rule]) -> RuleBook:
        """The same file rules with these watches (one compile)."""
        return RuleBook(self.rules, self.lexicon, self.feed_tags, watches)

    def put_watch(self, rule: Rule) -> None:
        """Add or replace a watch. Raises :class:`RuleError` for an invalid query."""
        if self.matcher.can_add(rule) and self.matcher.waste < self.REBUILD_WASTE:
            self.matcher.add(rule, light=True)  # an invalid one raises before any change
        else:
            condition(rule, self.lexicon)  # the rebuild would leave an invalid one out
            self.watches[rule.id] = rule
            self.matcher = self._build()
        self.refused.pop(rule.id, None)
        self.watches[rule.id] = rule

    def drop_watch(self, rule_id: str) -> bool:
        """Take a watch out; False if it was not in force."""
        self.refused.pop(rule_id, None)
        if self.watches.pop(rule_id, None) is None:
            return False
        self.matcher.remove(rule_id)
        return True
