"""The delivery use-case: sends stored deliveries, paced to Telegram's limits, until none is due.

Deliveries are leased from the store in batches (:meth:`DeliveryStore.claim_due`); within a batch
each chat gets its own queue and the chats take turns, so one busy chat never starves the others.
A chat that cannot take another message before the batch ends has the rest of its queue handed
back with a later due time, which also keeps every lease short. Outcomes:

- accepted: marked sent;
- 429: everyone pauses for ``retry_after``; the delivery is retried without counting an attempt;
- chat migrated: the chat's subscriptions and unsent deliveries follow it, and it is resent;
- blocked / removed (403): the chat's deliveries are held until it comes back;
- rejected formatting (400): resent once as plain text, never lost for its markup;
- network or server error: retried with exponential backoff and jitter, then parked and the
  admins told.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.core.errors import (
    BadMessage,
    ChatMoved,
    ChatUnavailable,
    DeliveryError,
    RateLimited,
)
from bot.core.models import Alert
from bot.core.pacing import Pacer, retry_delay
from bot.core.ports import DeliveryStore, Messenger
from bot.core.render import alert_actions, render_html, render_plain
from bot.core.rules import Rule

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendPolicy:
    lease: timedelta = timedelta(seconds=60)
    batch: int = 200
    concurrency: int = 8
    max_attempts: int = 8
    """Network/server failures tolerated before a delivery is parked."""
    retry_base: float = 2.0
    retry_cap: float = 600.0


@dataclass
class SendStats:
    sent: int = 0
    retried: int = 0
    parked: int = 0
    held: int = 0
    rate_limited: int = 0


class Sender:
    """Sends due deliveries through a :class:`Messenger`."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        messenger: Messenger,
        clock: Callable[[], datetime],
        describe: Callable[[Alert], Alert] = lambda a: a,
        policy: SendPolicy | None = None,
        pacer: Pacer | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.messenger = messenger
        self.clock = clock
        self.describe = describe
        """Fills in display names (rule and feed titles) from the configuration in force."""
        self.policy = policy or SendPolicy()
        self.pacer = pacer or Pacer()
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.stats = SendStats()
        self._wake = asyncio.Event()

    def wake(self, _count: int = 0) -> None:
        """New deliveries were stored: stop waiting and look."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, idle: float = 5.0) -> None:
        """Send until ``stop`` is set, looking for due deliveries whenever woken or every
        ``idle`` seconds (retries become due with time, not with events)."""
        while not stop.is_set():
            try:
                worked = await self.send_due(stop)
            except Exception:  # the loop must survive a bug or an outage of the database
                log.exception("delivery loop error; retrying shortly")
                worked = 0
            if worked:
                continue
            self._wake.clear()
            waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()

    async def send_due(self, stop: asyncio.Event | None = None) -> int:
        """Claim one batch of due deliveries and send it; returns how many were claimed."""
        policy = self.policy
        alerts = await self.store.claim_due(self.clock(), policy.lease, policy.batch)
        if not alerts:
            return 0
        queues: dict[str, deque[Alert]] = {}
        for alert in alerts:
            queues.setdefault(alert.chat, deque()).append(alert)
        # Work on the batch for at most a third of the lease, well before it runs out.
        deadline = self.monotonic() + policy.lease.total_seconds() / 3
        busy: set[str] = set()
        tasks: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(policy.concurrency)

        async def send_one(alert: Alert) -> None:
            try:
                if not await self._deliver(alert):
                    # Blocked or migrated: the store has already held or moved the chat's
                    # other deliveries, so the rest of this batch for it is not attempted.
                    queues.pop(alert.chat, None)
            finally:
                busy.discard(alert.chat)
                slots.release()

        try:
            while queues and not (stop and stop.is_set()):
                now = self.monotonic()
                if now >= deadline:
                    break
                waits = []
                for chat in list(queues):
                    if chat in busy:
                        continue
                    wait = self.pacer.delay(chat, self.messenger.is_group(chat), now)
                    if wait > 0:
                        waits.append(wait)
                        continue
                    await slots.acquire()
                    alert = queues[chat].popleft()
                    if not queues[chat]:
                        del queues[chat]
                    busy.add(chat)
                    self.pacer.record(chat, self.messenger.is_group(chat), self.monotonic())
                    task = asyncio.create_task(send_one(alert))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    now = self.monotonic()
                pause = min(waits, default=0.05) if not busy else 0.02
                await asyncio.sleep(min(max(pause, 0.005), max(deadline - now, 0.005)))
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            leftover = [a.delivery_id for q in queues.values() for a in q]
            if leftover:
                await self.store.release(leftover, self.clock())
            self.pacer.forget(self.monotonic())  # bounded memory: chats not written to lately
        return len(alerts)

    async def drain(self, budget: float) -> int:
        """Send until nothing is due or ``budget`` seconds pass; returns deliveries claimed."""
        end = self.monotonic() + budget
        total = 0
        while self.monotonic() < end:
            claimed = await self.send_due()
            total += claimed
            if not claimed:
                break
        return total

    async def _deliver(self, alert: Alert) -> bool:
        """Send one alert and record the outcome; False if the chat can take no more now."""
        alert = self.describe(alert)
        plain = render_plain(alert)
        html = None if alert.plain else render_html(alert)
        try:
            message_id = await self.messenger.send(
                alert.chat,
                html,
                plain,
                alert_actions(alert),
                silent=alert.silent,
                link_preview=alert.link_preview,
            )
        except RateLimited as exc:
            self.stats.rate_limited += 1
            self.pacer.pause(exc.retry_after, self.monotonic())
            when = self.clock() + timedelta(seconds=exc.retry_after)
            await self.store.retry_later(alert.delivery_id, when, str(exc), count_attempt=False)
            log.warning("telegram rate limit: pausing all sends for %gs", exc.retry_after)
        except ChatMoved as exc:
            await self.store.migrate_chat(alert.chat, exc.new_chat, self.clock())
            log.info("chat %s migrated to %s; its alerts follow", alert.chat, exc.new_chat)
            return False
        except ChatUnavailable as exc:
            self.stats.held += 1
            before = await self.store.set_chat_status(
                alert.chat, "blocked", self.clock(), reason=exc.reason
            )
            log.warning("%s; holding its alerts until it is reachable again", exc)
            if before != "blocked":  # tell the admins once, not for every held alert
                await self.messenger.notify_admins(
                    f"Alerts to chat {alert.chat} are held: {exc.reason}"
                )
            return False
        except BadMessage as exc:
            if html is None:
                await self._park(alert, str(exc))
            else:
                log.warning("%s; resending as plain text", exc)
                await self.store.retry_later(alert.delivery_id, self.clock(), str(exc), plain=True)
        except DeliveryError as exc:  # transient: network, time-out, server error
            await self._retry(alert, str(exc))
        except Exception as exc:  # a bug must not lose the alert or stop the loop
            log.exception("unexpected error sending delivery %d", alert.delivery_id)
            await self._retry(alert, f"{type(exc).__name__}: {exc}")
        else:
            self.stats.sent += 1
            await self.store.mark_sent(alert.delivery_id, message_id, self.clock())
            log.info("sent %r to %s (rule %s)", alert.story.title[:80], alert.chat, alert.rule_id)
        return True  # sent, or to be retried: the chat itself can take more

    async def _retry(self, alert: Alert, error: str) -> None:
        attempts = alert.attempts + 1
        if attempts >= self.policy.max_attempts:
            await self._park(alert, error)
            return
        delay = retry_delay(
            attempts, self.policy.retry_base, self.policy.retry_cap, jitter=self.rng.random() * 0.5
        )
        self.stats.retried += 1
        await self.store.retry_later(
            alert.delivery_id, self.clock() + timedelta(seconds=delay), error
        )
        log.warning("%s; retry %d in %.0fs", error, attempts, delay)

    async def _park(self, alert: Alert, error: str) -> None:
        self.stats.parked += 1
        await self.store.park(alert.delivery_id, error, self.clock())
        log.error("giving up on delivery %d to %s: %s", alert.delivery_id, alert.chat, error)
        await self.messenger.notify_admins(
            f"An alert could not be delivered to {alert.chat} and was parked: {error}\n"
            f"{alert.story.title}"
        )


def with_rules(
    rules: Callable[[], Mapping[str, Rule]], feed_titles: dict[str, str]
) -> Callable[[Alert], Alert]:
    """A ``describe`` function that names rules and feeds as the configuration in force does,
    and applies the rule's delivery options (silent, link preview)."""

    def describe(alert: Alert) -> Alert:
        rule = rules().get(alert.rule_id)
        return replace(
            alert,
            rule_title=rule.title if rule else alert.rule_id,
            feed_title=feed_titles.get(alert.feed_title, alert.feed_title),
            silent=rule.silent if rule else False,
            link_preview=rule.link_preview if rule else False,
        )

    return describe
