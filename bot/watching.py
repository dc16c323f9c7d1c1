"""Keeping the watches in force current (service): the personal watches of the store, in the
matcher of the rules in force, on every instance.

At start every live watch is compiled with the file rules in one go; afterwards each change is
applied in place (one watch compiled, nothing else), whether made here (the /watch commands
apply what they wrote at once) or by another instance sharing the database (found by polling
the changes since the last seen, with an overlap for clocks that differ and transactions that
commit late; applying a change twice is harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.core.ports import WatchStore
from bot.core.rules import RuleBook, RuleError
from bot.core.watches import Watch, WatchState, watch_rule

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=2)
"""Changes are read again this far behind the newest one seen."""


class WatchSync:
    """Applies the store's watches to the rule book that :func:`book` returns."""

    def __init__(self, store: WatchStore, book: Callable[[], RuleBook]) -> None:
        self.store = store
        self.book = book
        self._cursor: datetime | None = None
        self._applied: dict[int, tuple[datetime, WatchState, str, str]] = {}
        """Watch number -> the version in force here (its change time first)."""

    async def load(self) -> RuleBook:
        """The rule book in force with every live watch, compiled at once; later changes are
        then picked up by :meth:`sync`."""
        watches = await self.store.watches_changed(None)
        book = self.book()
        live = []
        for watch in watches:
            self._seen(watch)
            self._applied[watch.id] = _version(watch)
            if watch.live:
                live.append(watch_rule(watch.id, watch.chat, watch.query))
        loaded = book.with_watches(live)
        if loaded.refused:
            log.warning(
                "%d watches no longer compile (a lexicon list they use is gone)",
                len(loaded.refused),
            )
        log.info("%d watches in force", len(loaded.watches))
        return loaded

    async def sync(self) -> int:
        """Apply the changes made since the last sync; returns how many changed the book."""
        since = None if self._cursor is None else self._cursor - OVERLAP
        changed = 0
        for watch in await self.store.watches_changed(since):
            if watch.state is WatchState.DRAFT:
                self._seen(watch)
                continue
            changed += self.apply(watch)
        return changed

    def apply(self, watch: Watch) -> bool:
        """Bring the book in line with one watch; False when it already was."""
        self._seen(watch)
        version = _version(watch)
        applied = self._applied.get(watch.id)
        # The same version, or an older one read before a newer change made here committed.
        if applied is not None and (applied == version or applied[0] > version[0]):
            return False
        self._applied[watch.id] = version
        book = self.book()
        if not watch.live:
            return book.drop_watch(watch.rule_id)
        try:
            book.put_watch(watch_rule(watch.id, watch.chat, watch.query))
        except RuleError as exc:
            log.warning("watch %d of chat %s does not compile: %s", watch.id, watch.chat, exc)
            book.drop_watch(watch.rule_id)
        return True

    def _seen(self, watch: Watch) -> None:
        if self._cursor is None or watch.updated_at > self._cursor:
            self._cursor = watch.updated_at


def _version(watch: Watch) -> tuple[datetime, WatchState, str, str]:
    return (watch.updated_at, watch.state, watch.query, watch.chat)
