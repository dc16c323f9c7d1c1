"""Running polls on time (edge: APScheduler 3, ``AsyncIOScheduler`` in the bot's event loop).

Each feed has one one-shot job at the time the pipeline chose for its next poll (interval with
jitter, backoff, server hints); when a poll finishes, the job for the next one is added. A feed
therefore never overlaps itself, and a semaphore bounds how many feeds are polled at once.
Housekeeping runs as plain interval jobs. On shutdown no new poll starts and the polls under way
are given time to finish (a poll commits atomically, so even an interrupted one loses nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.lanes import Lanes

log = logging.getLogger(__name__)

PollFn = Callable[[str], Awaitable[datetime | None]]


class FeedScheduler:
    """Schedules feed polls and housekeeping jobs."""

    def __init__(self, poll: PollFn, *, concurrency: int, lanes: Lanes | None = None) -> None:
        self._poll = poll
        self._lanes = lanes
        self._slots = asyncio.Semaphore(concurrency)
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[object]] = set()
        self._polling: set[str] = set()
        self._stopping = False

    def start(self) -> None:
        self._scheduler.start()

    def schedule(self, feed: str, when: datetime) -> None:
        """Poll ``feed`` at ``when`` (replacing any poll already planned for it)."""
        if self._stopping:
            return
        self._scheduler.add_job(
            self._run,
            "date",
            run_date=when,
            args=[feed],
            id=f"feed:{feed}",
            replace_existing=True,
            misfire_grace_time=None,  # a late poll is still wanted, however late
            coalesce=True,
            # The next poll is planned by the poll itself, just before it returns; when a poll
            # overran its interval that job is due at once while this one still counts as
            # running, and with one instance allowed APScheduler would skip it, ending the
            # feed's polling for good. Overlap is impossible anyway: see _run.
            max_instances=2,
        )

    def is_polling(self, feed: str) -> bool:
        return feed in self._polling

    def unschedule(self, feed: str) -> None:
        job = self._scheduler.get_job(f"feed:{feed}")
        if job is not None:
            job.remove()

    def planned(self) -> dict[str, datetime]:
        """Feed -> time of its next planned poll."""
        return {
            job.id.removeprefix("feed:"): job.next_run_time
            for job in self._scheduler.get_jobs()
            if job.id.startswith("feed:") and job.next_run_time is not None
        }

    def every(self, name: str, interval: timedelta, func: Callable[[], Awaitable[None]]) -> None:
        """Run ``func`` every ``interval`` (never two at once)."""
        self._scheduler.add_job(
            self._guard(name, func),
            "interval",
            seconds=interval.total_seconds(),
            id=name,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )

    def _guard(
        self, name: str, func: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            try:
                await func()
            except Exception:
                log.exception("job %s failed", name)

        return job

    async def _run(self, feed: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            if feed in self._polling:  # defensive: never two polls of one feed at once
                log.warning("feed %s is still being polled; skipping an overlapping run", feed)
                return
            self._polling.add(feed)
            async with AsyncExitStack() as stack:
                if self._lanes is not None:
                    await stack.enter_async_context(self._lanes.enter(feed))
                await stack.enter_async_context(self._slots)
                if self._stopping:
                    return
                try:
                    next_at = await self._poll(feed)
                except asyncio.CancelledError:
                    if not self.stopping():
                        raise
                    # Cut short by shutdown after its grace period: expected, not an error.
                    log.info("poll of feed %s stopped by shutdown", feed)
                    return
                except Exception:
                    # A bug in one poll must not end that feed's polling for good.
                    log.exception("poll of feed %s failed unexpectedly", feed)
                    next_at = datetime.now(self._scheduler.timezone) + timedelta(minutes=5)
            if next_at is not None:
                self.schedule(feed, next_at)
        finally:
            self._polling.discard(feed)
            if task is not None:
                self._running.discard(task)

    def stopping(self) -> bool:
        """True once :meth:`shutdown` began."""
        return self._stopping

    async def shutdown(self, grace: float = 10.0) -> None:
        """Start no more polls; let the running ones finish for up to ``grace`` seconds."""
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        running = list(self._running)
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
