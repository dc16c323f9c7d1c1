"""Personal watches (pure): a query a chat saved for itself from Telegram, its states and the
one place that owns their transitions, and the rule it stands for in the matcher.

A watch is created as a draft (``/watch`` previews what it would have found), becomes active
when the chat confirms it, can be paused and resumed, and deleted (undoable: a deleted watch
can be restored). Only active watches are in the matcher; a watch is a :class:`Rule` whose
``notify`` is its own chat, so its matches go through the same routing stage as the file rules
and a story matching a topic and a watch is still one message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bot.core.errors import NewsbotError
from bot.core.models import WATCH_PREFIX
from bot.core.rules import Rule, RuleError, condition

_NOTIFY: dict[str, tuple[str]] = {}
"""One ``notify`` tuple per chat, shared by its watches (100,000 watches, a few per chat)."""
MAX_QUERY = 500
"""Characters of a watch's query, at most."""


class WatchState(Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"


_ALLOWED: dict[WatchState, frozenset[WatchState]] = {
    WatchState.DRAFT: frozenset({WatchState.ACTIVE, WatchState.DELETED}),
    WatchState.ACTIVE: frozenset({WatchState.PAUSED, WatchState.DELETED}),
    WatchState.PAUSED: frozenset({WatchState.ACTIVE, WatchState.DELETED}),
    WatchState.DELETED: frozenset({WatchState.ACTIVE}),  # restored (undo)
}

COUNTED = frozenset({WatchState.ACTIVE, WatchState.PAUSED})
"""The states that count against a chat's limit."""


class WatchError(NewsbotError):
    """A watch cannot be created or changed as asked."""


def can_move(current: WatchState, wanted: WatchState) -> bool:
    """Whether a watch in ``current`` may go to ``wanted`` (staying put is always allowed)."""
    return wanted is current or wanted in _ALLOWED[current]


def move(current: WatchState, wanted: WatchState) -> WatchState:
    """The state after asking for ``wanted``; raises :class:`WatchError` when not allowed."""
    if not can_move(current, wanted):
        raise WatchError(f"a {current.value} watch cannot become {wanted.value}")
    return wanted


@dataclass(frozen=True, slots=True)
class Watch:
    id: int
    chat: str
    query: str
    state: WatchState
    created_at: datetime
    updated_at: datetime

    @property
    def rule_id(self) -> str:
        return rule_id(self.id)

    @property
    def live(self) -> bool:
        """In the matcher: its matches are delivered."""
        return self.state is WatchState.ACTIVE


def rule_id(number: int) -> str:
    return f"{WATCH_PREFIX}{number}"


def is_watch(rule: str) -> bool:
    return rule.startswith(WATCH_PREFIX)


def watch_number(rule: str) -> int | None:
    """The watch number of a watch's rule id, else None."""
    if not is_watch(rule):
        return None
    tail = rule[len(WATCH_PREFIX) :]
    return int(tail) if tail.isdigit() else None


def watch_rule(number: int, chat: str, query: str) -> Rule:
    """The rule a watch stands for: its query (also its title: alerts mark it 👁), delivered to
    its chat only."""
    notify = _NOTIFY.get(chat)
    if notify is None:
        if len(_NOTIFY) > 1_000_000:
            _NOTIFY.clear()
        notify = _NOTIFY[chat] = (chat,)
    return Rule(
        id=rule_id(number),
        title=query,
        query=query,
        notify=notify,
        subscribable=False,
        category="watches",
    )


def check_query(query: str, lexicon: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """The query, stripped, if it can be a watch; raises :class:`RuleError` (with the column
    when the parser knows it) otherwise."""
    query = " ".join(query.split())
    if not query:
        raise RuleError("watch", "query", "the query is empty")
    if len(query) > MAX_QUERY:
        raise RuleError("watch", "query", f"a watch query has at most {MAX_QUERY} characters")
    condition(Rule(id="watch", title="watch", query=query), lexicon)
    return query


def as_yaml(watch: Watch) -> str:
    """The watch as a rule file entry, to promote it to a shared rule (JSON strings are YAML
    double-quoted scalars, so any query survives the copy)."""
    quoted = json.dumps(watch.query, ensure_ascii=False)
    return (
        f"- id: watch-{watch.id}\n"
        f"  title: {quoted}\n"
        f"  description: {json.dumps(f'Promoted from watch {watch.id}', ensure_ascii=False)}\n"
        f"  query: {quoted}\n"
    )
