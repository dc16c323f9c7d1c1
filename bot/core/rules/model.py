"""A rule as its author wrote it, and its meaning as one syntax tree.

``query`` (the query language) and the ``any``/``all``/``none`` lists are two ways to write the
same thing; a rule may use both, and they are ANDed: ``any`` is an OR-group, each ``all`` term
must occur, no ``none`` term may. List entries are terms or phrases with the same ``*`` and ``=``
markers as the query language, or ``@lexicon`` references.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.rules.ast import And, Atom, Node, Not, Or, Regex
from bot.core.rules.query import QueryError, parse_query, parse_term

DEFAULT_FIELDS = ("title", "summary", "content")


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule, as validated from a rule file."""

    id: str
    title: str
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    query: str | None = None
    description: str = ""
    category: str = ""
    """How /rules groups the topic (the rule's ``category``, else its file's name)."""
    fields: tuple[str, ...] = DEFAULT_FIELDS
    feeds: tuple[str, ...] = ()
    """Only stories of these feeds (names, or ``tag:x`` for every feed tagged x); empty: all."""
    exclude_feeds: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    """Chats (numeric ids or ``@channel`` usernames) that receive every match."""
    subscribable: bool = True
    """Whether people may subscribe to the rule from Telegram."""
    silent: bool = False
    """Alerts arrive without a notification sound."""
    link_preview: bool = False
    """Alerts show a preview of the story's link."""
    priority: str = "normal"
    """``low``, ``normal``, ``high`` or ``urgent``: the order alerts leave a backed-up queue;
    ``urgent`` alerts also ignore quiet hours."""
    source: str = ""
    """Where the rule was defined (``file:line``), for messages about it."""


class RuleError(ValueError):
    """A rule's terms or query are invalid; ``part`` names the key (``query``, ``any.2``...)."""

    def __init__(self, rule_id: str, part: str, message: str, column: int | None = None) -> None:
        super().__init__(f"rule {rule_id!r}: {part}: {message}")
        self.rule_id = rule_id
        self.part = part
        self.message = message
        self.column = column


def _term(
    rule: Rule, part: str, text: str, fields: frozenset[str], lexicon: Mapping[str, tuple[str, ...]]
) -> Node:
    try:
        if text.startswith("@"):
            return parse_query(text, fields, lexicon)
        return parse_term(text, fields)
    except QueryError as exc:
        raise RuleError(rule.id, part, exc.message) from None


def condition(rule: Rule, lexicon: Mapping[str, tuple[str, ...]] | None = None) -> Node:
    """The rule's meaning as one tree. Raises :class:`RuleError`."""
    lexicon = lexicon or {}
    fields = frozenset(rule.fields)
    parts: list[Node] = []
    if rule.query is not None:
        try:
            parts.append(parse_query(rule.query, fields, lexicon))
        except QueryError as exc:
            raise RuleError(rule.id, "query", exc.message, exc.column) from None
    if rule.any:
        group = [_term(rule, f"any.{k}", t, fields, lexicon) for k, t in enumerate(rule.any)]
        parts.append(group[0] if len(group) == 1 else Or(tuple(group)))
    parts.extend(_term(rule, f"all.{k}", t, fields, lexicon) for k, t in enumerate(rule.all))
    if rule.none:
        group = [_term(rule, f"none.{k}", t, fields, lexicon) for k, t in enumerate(rule.none)]
        parts.append(Not(group[0] if len(group) == 1 else Or(tuple(group))))
    if not parts:
        raise RuleError(rule.id, "query", "the rule needs a query or terms in 'any' or 'all'")
    node = parts[0] if len(parts) == 1 else And(tuple(parts))
    if triggers(node) is None:
        raise RuleError(
            rule.id,
            "query",
            "the rule could match a story that contains none of its terms (only NOT parts); "
            "add a term the story must contain",
        )
    return node


def triggers(node: Node) -> frozenset[Atom | Regex] | None:
    """Atoms at least one of which must occur in any story the node matches (None when the node
    can be true without any of its atoms occurring, i.e. through NOT). The matcher evaluates a
    rule only for stories where one of its trigger atoms was found."""
    if isinstance(node, (Atom, Regex)):
        return frozenset({node})
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        union: set[Atom | Regex] = set()
        for item in node.items:
            found = triggers(item)
            if found is None:
                return None
            union |= found
        return frozenset(union)
    if isinstance(node, And):
        options = [t for t in (triggers(item) for item in node.items) if t is not None]
        if not options:
            return None
        # Prefer word atoms (found by the index) over regular expressions, then fewer atoms.
        return min(options, key=lambda t: (any(isinstance(a, Regex) for a in t), len(t)))
    return triggers(node.left)
