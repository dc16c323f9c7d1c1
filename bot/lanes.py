"""Fetch lanes: how many polls may run at once per host, and how few slots slow feeds may
hold, so that a slow or hostile host never delays the others.

A feed whose last fetch took longer than ``slow_after`` (a slowloris server, a time-out) polls
in the slow lane, which holds at most ``slow_share`` of the scheduler's slots; a fast poll takes
it out again. Every feed also takes its host's lane (``per_host`` at once, host and port), which
keeps the bot polite to a server carrying many feeds. Lanes are entered before a scheduler slot
is taken, so feeds waiting for a busy host or the slow lane hold no slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager


class Lanes:
    """Per-host and slow-feed limits on polls; see the module docstring."""

    def __init__(
        self,
        *,
        host_of: Callable[[str], str],
        per_host: int,
        slow_slots: int,
        slow_after: float,
    ) -> None:
        self.host_of = host_of
        self.per_host = per_host
        self.slow_after = slow_after
        self._slow_lane = asyncio.Semaphore(max(1, slow_slots))
        self._hosts: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}
        self.slow: set[str] = set()
        """Feeds whose last poll was slow."""

    @asynccontextmanager
    async def enter(self, feed: str) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if feed in self.slow:
                await stack.enter_async_context(self._slow_lane)
            host = self.host_of(feed)
            lane, users = self._hosts.setdefault(host, (asyncio.Semaphore(self.per_host), [0]))
            users[0] += 1
            try:
                async with lane:
                    yield
            finally:
                users[0] -= 1
                if not users[0]:
                    del self._hosts[host]  # bounded memory: only hosts in use are kept

    def took(self, feed: str, seconds: float) -> None:
        """Record how long a fetch of ``feed`` took (the fetch alone: a slow database must
        not make every feed a slow one)."""
        if seconds >= self.slow_after:
            self.slow.add(feed)
        else:
            self.slow.discard(feed)

    def forget(self, feed: str) -> None:
        self.slow.discard(feed)
