"""The feeds being polled: their configured specs and current states, one poll of a feed,
a round of every feed (``run --once``), and keeping each enabled feed planned in the
scheduler. Uses :class:`bot.pipeline.Pipeline` for the poll itself.

Every poll is claimed from the database first (:mod:`bot.claims`, in batches), with a lease
renewed while it runs: instances sharing the database each plan every feed, and whichever asks first
when it is due polls it; the others are told when to look again (its next poll, or the end of
the lease). The claim hands over the feed's state as the database has it, so an instance
never polls from a stale copy (another may have polled it, or seeded it, meanwhile), and the
poll's new state is written only while the claim stands. A crashed instance's claim runs out
after the lease, and the next instance to ask takes the poll over.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from bot.claims import FeedClaims
from bot.core.errors import StorageError
from bot.core.models import FeedClaim, FeedSpec, FeedState
from bot.lanes import Lanes
from bot.pipeline import Pipeline, PollResult
from bot.scheduler import FeedScheduler
from bot.storage import Store

log = logging.getLogger(__name__)


def renames(known: dict[str, str], specs: Iterable[FeedSpec]) -> dict[str, str]:
    """Old name -> new name of the feeds renamed in the configuration: ``known`` (name ->
    URL of the feeds the database has) holds the old name with the new one's URL, and
    neither names the other."""
    specs = list(specs)
    configured = {s.name for s in specs}
    orphans: dict[str, str] = {}
    for name, url in known.items():
        if name not in configured:
            orphans.setdefault(url, name)
    return {orphans[s.url]: s.name for s in specs if s.name not in known and s.url in orphans}


class FeedPoller:
    """Owns :attr:`specs` (the configuration's feeds) and :attr:`states` (theirs now)."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        specs: Iterable[FeedSpec],
        clock: Callable[[], datetime],
        concurrency: int,
        *,
        instance: str = "local",
        lease: timedelta = timedelta(seconds=20),
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.specs: dict[str, FeedSpec] = {s.name: s for s in specs}
        self.states: dict[str, FeedState] = {}
        self.clock = clock
        self.concurrency = concurrency
        self.lanes: Lanes | None = None
        """Told how long each scheduled fetch took (see :mod:`bot.lanes`)."""
        self.observers: list[Callable[[PollResult], None]] = []
        """Told of every poll's result (metrics)."""
        self.instance = instance
        """This instance's id, the holder of its claims."""
        self.lease = lease
        """How long a claim lasts unless renewed (renewed every quarter of it while the poll
        runs): how soon another instance takes over a crashed instance's poll."""
        self.on_takeover: list[Callable[[str, str], None]] = []
        """Told (feed, previous holder) when a poll is taken over from an expired claim."""
        self.rng = random.Random()
        self.claims = FeedClaims(store, instance, lease, clock, pipeline.writing)
        """This instance's claims: granted in batches, renewed by one loop."""

    def host_of(self, name: str) -> str:
        """The host and port a feed is fetched from (its lane, see :mod:`bot.lanes`)."""
        state = self.states.get(name)
        url = state.poll_url if state is not None else self.specs[name].url
        return urlsplit(url).netloc.lower()

    async def sync(self) -> dict[str, str]:
        """Bring the database's feeds in line with :attr:`specs`; returns the renames (old
        name -> new) it followed: a configured feed the database does not know, with the URL
        of a known feed the configuration no longer names, is that feed renamed, and keeps
        its stories and state."""
        stored = await self.store.feed_states()
        moved = renames({n: s.url for n, s in stored.items()}, self.specs.values())
        for old, new in moved.items():
            if await self.store.rename_feed(old, new):
                log.info("feed %s is now called %s; its history follows", old, new)
        self.states = await self.store.sync_feeds(self.specs.values(), self.clock())
        return moved

    async def poll(self, name: str, *, due_only: bool = False) -> PollResult:
        """Poll one configured feed now, if no other instance is polling it (and, with
        ``due_only``, if it is due: another instance may have polled it since). A poll not
        made has the outcome ``elsewhere``, and its state's next poll says when to ask again."""
        if name not in self.states:  # not started yet: the stored states are not loaded
            await self.sync()
        now = self.clock()
        return await self._poll(name, await self._claim(name, due_only), now)

    async def _claim(self, name: str, due_only: bool) -> FeedClaim | StorageError | None:
        try:
            for attempt in range(3):
                claim = await self.claims.claim(name, due_only=due_only)
                if claim is not None:
                    return claim
                await asyncio.sleep(0.02 * (attempt + 1))  # claimed just now: look again
        except StorageError as exc:
            return exc
        return None

    async def _poll(
        self, name: str, claim: FeedClaim | StorageError | None, now: datetime
    ) -> PollResult:
        if isinstance(claim, StorageError):
            # Nothing was claimed, nothing polled: asked again when the database answers.
            return self.pipeline.storage_failed(self.specs[name], self.states[name], claim)
        if claim is None:  # another instance is claiming it at this very moment
            later = now + timedelta(seconds=1 + self.rng.random())
            return PollResult(name, "elsewhere", replace(self.states[name], next_poll_at=later))
        try:
            return await self._claimed(name, claim, now)
        finally:
            self.claims.done(name)

    async def _claimed(self, name: str, claim: FeedClaim, now: datetime) -> PollResult:
        state = claim.state
        if claim.resumed:  # this instance's own state from its last poll may be newer
            mine = self.pipeline.unsaved_state(name) or self.states[name]
            state = replace(mine, lease=claim.state.lease)
        self.states[name] = state
        if not claim.granted:
            retry = claim.retry_at
            if retry is not None:  # spread out the instances asking again
                retry = max(retry, now) + timedelta(seconds=self.rng.random() / 2)
            return PollResult(name, "elsewhere", replace(claim.state, next_poll_at=retry))
        if claim.took_over is not None:
            log.warning(
                "feed %s: took over the poll of instance %s, whose claim ran out",
                name,
                claim.took_over,
            )
            for told in self.on_takeover:
                told(name, claim.took_over)
        result = await self.pipeline.poll(self.specs[name], state)
        self.states[name] = result.state
        for observe in self.observers:
            observe(result)
        return result

    async def scheduled_poll(self, name: str) -> datetime | None:
        """A poll the scheduler runs; returns when to look at the feed next."""
        if name not in self.specs:
            return None
        result = await self.poll(name, due_only=True)
        if self.lanes is not None and result.outcome != "elsewhere":
            self.lanes.took(name, result.fetch_seconds)
        return result.state.next_poll_at

    async def refresh(self) -> None:
        """Read every feed's state from the database (other instances poll too)."""
        try:
            stored = await self.store.feed_states()
        except StorageError:
            return
        for name in self.specs:
            mine = self.pipeline.unsaved_state(name)  # newer than the database's
            if mine is not None:
                self.states[name] = mine
            elif name in stored:
                kept = self.states.get(name)
                lease = kept.lease if kept is not None else None
                self.states[name] = replace(stored[name], lease=lease)

    async def poll_all(self) -> list[PollResult]:
        """Poll every enabled feed once, with bounded concurrency. The round's claims are
        asked for together (one transaction per few hundred feeds) and renewed while the
        feeds wait their turn."""
        await self.sync()
        slots = asyncio.Semaphore(self.concurrency)
        names = [n for n, state in self.states.items() if not state.disabled]
        # A round polls every feed now, due or not, unless another instance is polling it.
        claims = await asyncio.gather(*(self._claim(n, False) for n in names))

        async def bounded(name: str, claim: FeedClaim | StorageError | None) -> PollResult:
            async with slots:
                return await self._poll(name, claim, self.clock())

        try:
            results = list(await asyncio.gather(*map(bounded, names, claims)))
        finally:
            for name in names:
                self.claims.done(name)
        await self.pipeline.flush()
        return results

    def plan(self, scheduler: FeedScheduler) -> None:
        """Plan every enabled feed: due feeds start within a few seconds, spread out rather
        than all at once."""
        now = self.clock()
        rng = random.Random()
        for name, state in self.states.items():
            if state.disabled:
                log.warning("feed %s is disabled (%s); not polling it", name, state.last_error)
                continue
            when = state.next_poll_at or now
            scheduler.schedule(name, max(when, now + timedelta(seconds=rng.uniform(0, 3))))

    async def replan_lost(self, scheduler: FeedScheduler) -> None:
        """Every enabled feed must have a poll planned or under way; replan any that lost it
        (a defence in depth: a feed silently no longer polled is the worst failure here)."""
        planned = scheduler.planned()
        now = self.clock()
        for name, state in self.states.items():
            if state.disabled or name in planned or scheduler.is_polling(name):
                continue
            log.error("feed %s had no poll planned; replanning it", name)
            scheduler.schedule(name, max(state.next_poll_at or now, now))
