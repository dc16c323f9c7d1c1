"""Which instance talks to Telegram: the leader lease, this instance's role, its heartbeat.

Instances sharing a database hold one named lease, ``telegram``, between them. Its holder (the
leader) is the only one that receives updates (Telegram allows one getUpdates consumer per
token), sends alerts, replies and admin notices (so Telegram's per-chat, per-group and global
limits and any 429 pause are kept by one pacer, exactly as with one instance), and does the
housekeeping. Every instance polls feeds and queues deliveries. Telegram lets a bot send about
30 messages a second in all, which one process sends easily: more senders would add no
throughput, only a shared budget to get wrong.

The lease lasts :attr:`Leadership.ttl` and is renewed every third of it. A leader that cannot
renew (its database connection is gone, it was paused) steps down on its own when two thirds
of the lease have passed since its last renewal, before anyone else may take over; the next
instance to ask after expiry becomes leader. Takeover after a crash therefore takes at most
``ttl`` plus one renewal interval. A clean stop releases the lease at once.

:class:`Role` is the instance's state; :meth:`Leadership._become` is the one place it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.errors import StorageError
from bot.core.models import InstanceInfo
from bot.storage import Store

log = logging.getLogger(__name__)

LEASE = "telegram"
"""The name of the leader lease."""


class Role(StrEnum):
    FOLLOWER = "follower"
    """Polls feeds and queues deliveries; sends nothing."""
    LEADER = "leader"
    """Also receives updates, sends, and keeps house."""
    STOPPED = "stopped"


_LEGAL = {
    (Role.FOLLOWER, Role.LEADER),
    (Role.LEADER, Role.FOLLOWER),
    (Role.FOLLOWER, Role.STOPPED),
    (Role.LEADER, Role.STOPPED),
}


def instance_id() -> str:
    """A new id for this process: its host, its pid and a random part (a restarted process
    is a new instance; two on one host never share an id)."""
    host = socket.gethostname()[:40]
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class Leadership:
    """This instance's role, kept by the leader lease."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        ttl: timedelta = timedelta(seconds=15),
        instance: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ttl = ttl
        self.id = instance or instance_id()
        self.monotonic = monotonic
        self.role = Role.FOLLOWER
        self.started_at = clock()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.takeovers = 0
        """Times this instance became leader over another's expired lease."""
        self.on_elected: list[Callable[[], Awaitable[None]]] = []
        self.on_deposed: list[Callable[[], Awaitable[None]]] = []
        self._valid_until = 0.0
        """Monotonic time until which this instance may act as leader without renewing."""
        self._changing = asyncio.Lock()

    @property
    def renew_every(self) -> float:
        return self.ttl.total_seconds() / 3

    def leads(self) -> bool:
        """True while this instance is leader and its lease is surely still its own."""
        return self.role == Role.LEADER and self.monotonic() < self._valid_until

    async def step(self) -> None:
        """Take or renew the lease, or find it held; record the heartbeat."""
        asked = self.monotonic()
        try:
            grant = await self.store.acquire_lease(LEASE, self.id, self.clock(), self.ttl)
        except StorageError as exc:
            log.warning("leader lease not renewed: %s", exc)
            if self.role == Role.LEADER and self.monotonic() >= self._valid_until:
                await self._become(Role.FOLLOWER, "its lease could not be renewed in time")
            return
        if grant.held:
            # Safe for two thirds of the lease from when it was asked for.
            self._valid_until = asked + self.ttl.total_seconds() * 2 / 3
            if self.role == Role.FOLLOWER:
                if grant.took_over is not None:
                    self.takeovers += 1
                    why = f"took over from {grant.took_over}, whose lease ran out"
                else:
                    why = "the lease was free"
                await self._become(Role.LEADER, why)
        elif self.role == Role.LEADER:
            await self._become(Role.FOLLOWER, f"{grant.holder} holds the lease")
        await self._heartbeat()

    async def _heartbeat(self, stopped: bool = False) -> None:
        now = self.clock()
        try:
            await self.store.heartbeat(
                InstanceInfo(
                    self.id,
                    self.host,
                    self.pid,
                    self.role.value,
                    self.started_at,
                    now,
                    now if stopped else None,
                )
            )
        except StorageError as exc:
            log.debug("heartbeat not recorded: %s", exc)

    async def _become(self, role: Role, why: str) -> None:
        """The one place the role changes; runs the callbacks of the change."""
        async with self._changing:
            if role == self.role:
                return
            if (self.role, role) not in _LEGAL:
                raise RuntimeError(f"illegal role change {self.role} -> {role}")
            before, self.role = self.role, role
            log.warning("instance %s: %s -> %s (%s)", self.id, before, role, why)
            if role == Role.LEADER:
                callbacks = self.on_elected
            elif before == Role.LEADER:
                callbacks = self.on_deposed
            else:
                callbacks = []
            for callback in callbacks:
                try:
                    await callback()
                except Exception:  # one failing part must not keep the others from it
                    log.exception("while changing role to %s", role)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the role up to date until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.renew_every)
            if not stop.is_set():
                await self.step()

    async def stop(self) -> None:
        """Step down and give the lease up, so another instance takes over at once."""
        was_leader = self.role == Role.LEADER
        await self._become(Role.STOPPED, "stopping")
        if was_leader:
            try:
                await self.store.release_lease(LEASE, self.id)
            except StorageError as exc:
                log.warning("leader lease not released (%s); it runs out by itself", exc)
        await self._heartbeat(stopped=True)


class StoredUpdates:
    """The update ledger (:class:`bot.telegram.runtime.UpdateLedger`) in the database: an
    update is handled once, whichever instance receives it. One whose handler never finished
    (the instance died) is handled again by the next leader: a reply may come twice then,
    never not at all. When the database cannot tell, the update is handled."""

    def __init__(self, store: Store, instance: str, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.instance = instance
        self.clock = clock

    async def begin(self, update_id: int) -> bool:
        try:
            return await self.store.begin_update(update_id, self.instance, self.clock())
        except StorageError as exc:
            log.warning("update %d handled without its record: %s", update_id, exc)
            return True

    async def finish(self, update_id: int) -> None:
        try:
            await self.store.finish_update(update_id, self.clock())
        except StorageError as exc:
            log.warning("update %d: its handling not recorded: %s", update_id, exc)
