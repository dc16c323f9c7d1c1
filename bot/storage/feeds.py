"""Feed state: one row per configured feed, what the bot remembers between polls (edge)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.models import FeedSpec, FeedState
from bot.storage import schema as s
from bot.storage.database import Database

log = logging.getLogger(__name__)

_STATE_FIELDS = [f.name for f in fields(FeedState) if f.name not in ("name", "lease")]


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
                    # Insert-or-ignore: instances starting together each add the new feeds.
                    await conn.execute(
                        self._insert_ignore(s.feeds, ["name"]),
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

    async def rename_feed(self, old: str, new: str) -> bool:
        """Give feed ``old`` and its stories the name ``new`` (a rename in the config keeps
        the feed's history and state). False, changing nothing, if ``old`` is unknown or
        ``new`` is taken."""
        async with self._tx() as conn:
            names = set(
                (
                    await conn.execute(select(s.feeds.c.name).where(s.feeds.c.name.in_([old, new])))
                ).scalars()
            )
            if names != {old}:
                return False
            await conn.execute(update(s.feeds).where(s.feeds.c.name == old).values(name=new))
            await conn.execute(update(s.stories).where(s.stories.c.feed == old).values(feed=new))
        return True

    async def feed_states(self) -> dict[str, FeedState]:
        async with self._tx() as conn:
            rows = (await conn.execute(select(s.feeds).order_by(s.feeds.c.name))).all()
        return {r.name: _feed_state(r) for r in rows}

    async def save_feed_state(self, state: FeedState) -> bool:
        """Record the outcome of a poll that brought no stories (failure, 304, same body).
        False if it was not written: the claim it came from no longer stands."""
        return await self.save_feed_states([state]) == 1

    async def save_feed_states(self, states: Sequence[FeedState]) -> int:
        """Record several such outcomes in one transaction (most polls bring nothing: one
        commit for many of them is most of the cost of an unchanged feed). Returns how many
        were written."""
        async with self._tx() as conn:
            written = 0
            for state in states:
                written += await write_feed_state(conn, state)
        return written


def _feed_state(row: Any) -> FeedState:
    return FeedState(name=row.name, **{f: getattr(row, f) for f in _STATE_FIELDS})


def feed_update(state: FeedState) -> Any:
    """The UPDATE that writes a feed's whole state. It is a compare-and-set: it applies only
    while the instance that polled holds the feed (a state without a lease, only while nobody
    does), so an instance that lost its claim (it stalled past the lease, and another took the
    poll over) never overwrites the newer state. Written with the token of the instance's
    latest claim, it also ends that claim; an earlier poll's state, written behind while a
    later poll of the feed runs, leaves the later claim standing."""
    lease = state.lease
    if lease is None:
        return (
            update(s.feeds)
            .where(s.feeds.c.name == state.name, s.feeds.c.lease_holder.is_(None))
            .values(**{f: getattr(state, f) for f in _STATE_FIELDS})
        )
    latest = s.feeds.c.lease_token == lease.token

    def ended(column: Any) -> Any:
        return case((latest, None), else_=column)

    return (
        update(s.feeds)
        .where(s.feeds.c.name == state.name, s.feeds.c.lease_holder == lease.holder)
        .values(
            **{f: getattr(state, f) for f in _STATE_FIELDS},
            lease_holder=ended(s.feeds.c.lease_holder),
            lease_token=ended(s.feeds.c.lease_token),
            lease_until=ended(s.feeds.c.lease_until),
        )
    )


async def write_feed_state(conn: AsyncConnection, state: FeedState) -> int:
    """Apply :func:`feed_update`; 1 if written, 0 (and a log line) if the claim was lost."""
    result = await conn.execute(feed_update(state))
    if result.rowcount:
        return 1
    log.warning(
        "feed %s: this instance's claim on the feed ended (another instance polls it); "
        "its state from this poll is dropped",
        state.name,
    )
    return 0
