"""The rule language's syntax tree: what a query means, independent of how it is matched.

A query is a tree of boolean operators over *atoms*. An atom is a :class:`Pattern` (a sequence of
folded words, each either whole or a prefix, optionally exact and case-sensitive) or a regular
expression, and it looks in a set of story fields. ``NEAR``/``ONEAR`` combine positional operands
(atoms, or OR-groups of them) by the number of words between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

NO_PREFIXES: frozenset[int] = frozenset()
"""Shared by the many patterns without a wildcard (CPython does not intern empty frozensets)."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """Words to find in sequence. ``words`` are folded (see :mod:`bot.core.text`); a word in
    ``prefixes`` matches any word starting with it (``drone*``). ``exact``, when set, holds the
    words as written: the story must contain them with the same case and accents (``=US``)."""

    words: tuple[str, ...]
    prefixes: frozenset[int] = NO_PREFIXES
    exact: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Atom:
    pattern: Pattern
    fields: frozenset[str]
    source: str
    """How the rule wrote it, for explanations."""


@dataclass(frozen=True, slots=True)
class Regex:
    source: str
    """The pattern as written, between slashes."""
    case_sensitive: bool
    fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int
    """At most this many words between the two sides."""
    ordered: bool
    """ONEAR: the left side must come first."""


Node: TypeAlias = Atom | Regex | And | Or | Not | Near
