"""The feeds being polled: their configured specs and current states, one poll of a feed,
a round of every feed (``run --once``), and keeping each enabled feed planned in the
scheduler. Uses :class:`bot.pipeline.Pipeline` for the poll itself."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from bot.core.models import FeedSpec, FeedState
from bot.lanes import Lanes
from bot.pipeline import Pipeline, PollResult
from bot.scheduler import FeedScheduler
from bot.storage import Store

log = logging.getLogger(__name__)


class FeedPoller:
    """Owns :attr:`specs` (the configuration's feeds) and :attr:`states` (theirs now)."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        specs: Iterable[FeedSpec],
        clock: Callable[[], datetime],
        concurrency: int,
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

    def host_of(self, name: str) -> str:
        """The host and port a feed is fetched from (its lane, see :mod:`bot.lanes`)."""
        state = self.states.get(name)
        url = state.poll_url if state is not None else self.specs[name].url
        return urlsplit(url).netloc.lower()

    async def sync(self) -> None:
        self.states = await self.store.sync_feeds(self.specs.values(), self.clock())

    async def poll(self, name: str) -> PollResult:
        """Poll one configured feed now."""
        if name not in self.states:  # not started yet: the stored states are not loaded
            await self.sync()
        result = await self.pipeline.poll(self.specs[name], self.states[name])
        self.states[name] = result.state
        for observe in self.observers:
            observe(result)
        return result

    async def scheduled_poll(self, name: str) -> datetime | None:
        """A poll the scheduler runs; returns when the feed is due next."""
        if name not in self.specs:
            return None
        result = await self.poll(name)
        if self.lanes is not None:
            self.lanes.took(name, result.fetch_seconds)
        return result.state.next_poll_at

    async def poll_all(self) -> list[PollResult]:
        """Poll every enabled feed once, with bounded concurrency."""
        await self.sync()
        slots = asyncio.Semaphore(self.concurrency)

        async def bounded(name: str) -> PollResult:
            async with slots:
                return await self.poll(name)

        names = [n for n, state in self.states.items() if not state.disabled]
        results = list(await asyncio.gather(*(bounded(n) for n in names)))
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
