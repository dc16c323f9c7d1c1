"""This instance's claims on feed polls (see :mod:`bot.storage.coordination`): asked for in
batches and kept renewed by one loop.

Polls that ask for their claims at the same moment (a round of every feed, feeds falling due
together) are granted in one transaction, not one each: a claim is a write, and on SQLite every
write waits for the one before it. While a claim's poll runs (or waits its turn in a round), one
loop renews every claim this instance holds, in one statement every quarter of the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.core.models import FeedClaim, Lease
from bot.storage import Store

log = logging.getLogger(__name__)

BATCH = 500
"""Feeds claimed per transaction at most."""


class FeedClaims:
    """Owns the claims asked for and not yet granted, and the claims held."""

    def __init__(
        self,
        store: Store,
        instance: str,
        lease: timedelta,
        clock: Callable[[], datetime],
        writing: asyncio.Lock | None = None,
    ) -> None:
        self.store = store
        self.instance = instance
        self.lease = lease
        self.clock = clock
        self.writing = writing or asyncio.Lock()
        """Taken for each claim transaction: this process's writes go one at a time."""
        self._asked: dict[bool, dict[str, asyncio.Future[FeedClaim | None]]] = {}
        self._granting: asyncio.Task[None] | None = None
        self.held: dict[str, Lease] = {}
        """Feed -> the claim this instance holds while its poll runs."""
        self._renewing: asyncio.Task[None] | None = None

    async def claim(self, name: str, *, due_only: bool) -> FeedClaim | None:
        """This instance's claim on ``name``'s poll (granted or refused), or None when the
        feed is unknown or another instance is claiming it at this moment. Raises
        :class:`bot.core.errors.StorageError` when the database fails."""
        asked = self._asked.setdefault(due_only, {})
        future = asked.get(name)
        if future is None:
            future = asked[name] = asyncio.get_running_loop().create_future()
        if self._granting is None:
            self._granting = asyncio.create_task(self._grant())
        claim = await asyncio.shield(future)
        if claim is not None and claim.granted and claim.state.lease is not None:
            self.held[name] = claim.state.lease
            self._keep_renewing()
        return claim

    def done(self, name: str) -> None:
        """The poll of ``name`` ended: its claim is no longer renewed (its state's write ends
        it in the database)."""
        self.held.pop(name, None)

    async def _grant(self) -> None:
        await asyncio.sleep(0)  # the polls asking in this same moment join the batch
        asked, self._asked, self._granting = self._asked, {}, None
        for due_only, futures in asked.items():
            names = list(futures)
            for start in range(0, len(names), BATCH):
                part = names[start : start + BATCH]
                try:
                    async with self.writing:
                        claims = await self.store.claim_feeds(
                            part, self.instance, self.clock(), self.lease, due_only=due_only
                        )
                except Exception as exc:  # each poll asking is told
                    for name in part:
                        futures[name].set_exception(exc)
                    continue
                for name in part:
                    futures[name].set_result(claims.get(name))

    def _keep_renewing(self) -> None:
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while self.held:
            await asyncio.sleep(self.lease.total_seconds() / 4)
            held = dict(self.held)
            if not held:
                return
            try:
                async with self.writing:
                    standing = await self.store.renew_feeds(
                        self.instance, held, self.clock(), self.lease
                    )
            except Exception as exc:  # they may run out; the writes tell
                log.debug("feed claims not renewed: %s", exc)
                continue
            for name in held.keys() - standing:
                # Usually a poll whose state was written (ending its claim) just now; else
                # the claim ran out, and the state's write will say it was dropped.
                log.debug("feed %s: its claim no longer stands", name)

    async def close(self) -> None:
        """Stop renewing (the claims run out, or the states' writes end them)."""
        self.held.clear()
        for futures in self._asked.values():
            for future in futures.values():
                future.cancel()
        for task in (self._renewing, self._granting):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
