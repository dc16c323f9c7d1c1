"""Feed state: one row per configured feed, what the bot remembers between polls (edge)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from bot.core.models import FeedSpec, FeedState
from bot.storage import schema as s
from bot.storage.database import Database

_STATE_FIELDS = [f.name for f in fields(FeedState) if f.name != "name"]


class FeedStore(Database):
    """The feeds aggregate."""

    async def sync_feeds(self, specs: Iterable[FeedSpec], now: datetime) -> dict[str, FeedState]:
        """Make sure every configured feed has a state row; a feed whose URL changed in the
        config starts over (its cache validators belong to the old URL). Returns the states of
        the configured feeds."""
        specs = list(specs)
        async with self._tx() as conn:
            rows = {r.name: r for r in (await conn.execute(select(s.feeds))).all()}
            for spec in specs:
                row = rows.get(spec.name)
                if row is None:
                    await conn.execute(
                        insert(s.feeds),
                        {
                            "name": spec.name,
                            "url": spec.url,
                            "seeded": False,
                            "consecutive_failures": 0,
                            "disabled": False,
                            "created_at": now,
                        },
                    )
                elif row.url != spec.url:
                    await conn.execute(
                        update(s.feeds)
                        .where(s.feeds.c.name == spec.name)
                        .values(
                            url=spec.url,
                            etag=None,
                            last_modified=None,
                            body_hash=None,
                            consecutive_failures=0,
                            disabled=False,
                            next_poll_at=None,
                        )
                    )
        states = await self.feed_states()
        return {spec.name: states[spec.name] for spec in specs}

    async def feed_states(self) -> dict[str, FeedState]:
        async with self._tx() as conn:
            rows = (await conn.execute(select(s.feeds).order_by(s.feeds.c.name))).all()
        return {r.name: _feed_state(r) for r in rows}

    async def save_feed_state(self, state: FeedState) -> None:
        """Record the outcome of a poll that brought no stories (failure, 304, same body)."""
        async with self._tx() as conn:
            await conn.execute(feed_update(state))

    async def save_feed_states(self, states: Sequence[FeedState]) -> None:
        """Record several such outcomes in one transaction (most polls bring nothing: one
        commit for many of them is most of the cost of an unchanged feed)."""
        async with self._tx() as conn:
            for state in states:
                await conn.execute(feed_update(state))


def _feed_state(row: Any) -> FeedState:
    return FeedState(name=row.name, **{f: getattr(row, f) for f in _STATE_FIELDS})


def feed_update(state: FeedState) -> Any:
    """The UPDATE that writes a feed's whole state."""
    return (
        update(s.feeds)
        .where(s.feeds.c.name == state.name)
        .values(**{f: getattr(state, f) for f in _STATE_FIELDS})
    )
