"""The rule language (pure): rules as written, the query language, and the compiled matcher.

See docs/rules.md for the language as users see it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    """The rules in force, swapped as a whole on reload so that every poll and every command
    sees one consistent set."""

    def __init__(
        self,
        rules: Sequence[Rule],
        lexicon: Mapping[str, tuple[str, ...]] | None = None,
        feed_tags: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.by_id = {r.id: r for r in self.rules}
        self.lexicon = dict(lexicon or {})
        self.feed_tags: dict[str, Sequence[str]] = dict(feed_tags or {})
        self.matcher = Matcher(self.rules, self.lexicon, feed_tags)
