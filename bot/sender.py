"""The delivery use-case: sends stored deliveries, paced to Telegram's limits, until none is due.

Deliveries are leased from the store in batches (:meth:`DeliveryStore.claim_due`); within a batch
each chat gets its own queue and the chats take turns, so one busy chat never starves the others.
A chat that cannot take another message before the batch ends has the rest of its queue handed
back with a later due time, which also keeps every lease short. Outcomes:

- accepted: marked sent;
- 429: everyone pauses for ``retry_after``; the delivery is retried without counting an attempt;
- chat migrated: the chat's subscriptions, settings and unsent deliveries follow it to its new
  id (:meth:`ChatIdentity.merge_chat`), and it is resent there;
- blocked / removed (403): the chat's deliveries are held until it comes back;
- rejected formatting (400): resent once as plain text, never lost for its markup;
- network or server error: retried with exponential backoff and jitter, then parked and the
  admins told.

A chat named by ``@username`` is first resolved to its numeric id (getChat), and its
deliveries, settings and holds move to that id; every later message goes to the id.

Before sending, each alert is checked against its chat's preferences (:mod:`bot.core.digest`):
one that none of its rules wants now (digests, quiet hours) is deferred until the first of them
releases it. Deferred alerts whose time has come go out as digest messages, a chat's together,
paced and handled exactly like single alerts; each part is marked sent with the deliveries it
carries. Every time shown is in the chat's time zone.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from bot.core.chats import ChatStatus, base_chat, is_person
from bot.core.digest import ChatPrefs, alert_release, render_digest
from bot.core.errors import (
    AnswerLost,
    BadMessage,
    ChatMoved,
    ChatUnavailable,
    DeliveryError,
    RateLimited,
    StorageError,
)
from bot.core.models import PRIORITIES, Alert, RuleMatch
from bot.core.notices import NoticeBatch
from bot.core.outage import StorageHealth
from bot.core.pacing import Pacer, retry_delay
from bot.core.ports import DeliveryStore, Messenger
from bot.core.render import (
    ENGLISH,
    Action,
    Wording,
    alert_actions,
    others,
    render_html,
    render_plain,
)
from bot.core.rules import Rule
from bot.core.storylines import EditJob, EditPolicy, carried, current_actions, fold, joins

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SendPolicy:
    lease: timedelta = timedelta(seconds=60)
    batch: int = 200
    rebatch_after: float = 1.0
    """Seconds into a batch after which new deliveries end it (what is left is given back)."""
    per_chat: int = 25
    """Alerts one chat may have in a batch: about what Telegram lets a private chat take in
    the third of a lease a batch lasts; the other chats' alerts fill the rest."""
    concurrency: int = 8
    digest_batch: int = 10_000
    """Deferred alerts claimed at once for one chat's digest (a digest lists the first few
    and counts the others)."""
    digest_chats: int = 5
    """Chats whose digests are claimed at once."""
    max_attempts: int = 8
    """Network/server failures tolerated before a delivery is parked."""
    retry_base: float = 2.0
    retry_cap: float = 600.0
    maybe_sent_delay: float = 60.0
    """A message whose answer was lost (it may have been delivered) is resent no sooner."""
    blocked_notice: timedelta = timedelta(hours=1)
    """People who blocked the bot are told to the admins in one message per this period."""
    edits: EditPolicy = field(default_factory=EditPolicy)
    """How later versions of a story join the message a chat got for it."""
    edit_batch: int = 50
    """Message edits claimed at once."""


@dataclass
class SendStats:
    sent: int = 0
    retried: int = 0
    parked: int = 0
    held: int = 0
    rate_limited: int = 0
    deferred: int = 0
    """Alerts held for a digest or quiet hours."""
    digests: int = 0
    """Digest messages sent."""
    maybe_sent: int = 0
    """Deliveries whose answer was lost: resent later, so possibly duplicated."""
    joined: int = 0
    """Deliveries added to the message their chat already had for their story."""
    edits: int = 0
    """Messages edited to list the versions that joined them."""


@dataclass(frozen=True, slots=True)
class _Message:
    """One message to send: a single alert, or one part of a digest carrying several."""

    chat: str
    html: str | None
    plain: str
    alerts: tuple[Alert, ...]
    actions: tuple[Action, ...] = ()
    silent: bool = False
    link_preview: bool = False
    digest: bool = False
    language: str | None = None
    """The language of the chat's buttons (None: the messenger's default)."""
    edit: EditJob | None = None
    """Set for an edit of a message already sent (it lists what joined it)."""

    @property
    def ids(self) -> list[int]:
        """The deliveries the message carries (none for an edit: they were recorded)."""
        return [i for a in self.alerts for i in carried(a)]

    @property
    def attempts(self) -> int:
        return max(a.attempts for a in self.alerts)


Speech = Callable[[ChatPrefs], tuple[str | None, Wording]]
"""A chat's language (as its preferences say) and the alert words in it."""


def _english(prefs: ChatPrefs) -> tuple[str | None, Wording]:
    return None, ENGLISH


def _single(alert: Alert, prefs: ChatPrefs, speech: Speech = _english) -> _Message:
    language, wording = speech(prefs)
    return _Message(
        chat=alert.chat,
        html=None if alert.plain else render_html(alert, prefs.tz, prefs.tz_name, wording),
        plain=render_plain(alert, prefs.tz, prefs.tz_name, wording=wording),
        alerts=(alert,),
        actions=alert_actions(alert),
        silent=alert.silent,
        link_preview=alert.link_preview,
        language=language,
    )


def _edited(job: EditJob, prefs: ChatPrefs, speech: Speech = _english) -> _Message:
    """The edit of a sent alert that other outlets' versions joined: the alert as sent, with
    its buttons as they are now, listing the versions."""
    language, wording = speech(prefs)
    alert = job.alert
    return _Message(
        chat=job.chat,
        html=None if alert.plain else render_html(alert, prefs.tz, prefs.tz_name, wording),
        plain=render_plain(alert, prefs.tz, prefs.tz_name, wording=wording),
        alerts=(),
        actions=current_actions(alert_actions(alert), job.muted, job.subscribed),
        link_preview=alert.link_preview,
        language=language,
        edit=job,
    )


def _digest(
    chat: str, alerts: Sequence[Alert], prefs: ChatPrefs, speech: Speech = _english
) -> list[_Message]:
    language, wording = speech(prefs)
    plain = any(a.plain for a in alerts)  # a part was rejected for its markup before
    by_id = {a.delivery_id: a for a in alerts}
    return [
        _Message(
            chat=chat,
            html=None if plain else part.html,
            plain=part.plain,
            # A story's line carries the versions folded into it; they follow its alert.
            alerts=tuple(by_id[i] for i in part.delivery_ids if i in by_id),
            silent=all(by_id[i].silent for i in part.delivery_ids if i in by_id),
            digest=True,
            language=language,
        )
        for part in render_digest(
            alerts, wording.digest_heading, prefs.tz, prefs.tz_name, wording=wording
        )
    ]


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
        storage: StorageHealth | None = None,
        speech: Speech = _english,
    ) -> None:
        self.storage = storage or StorageHealth()
        self.speech = speech
        """Each chat's language, for the words of its alerts that are not the story's."""
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
        self.blocked = NoticeBatch(every=self.policy.blocked_notice)
        """People who blocked the bot since the admins were last told."""
        self._owed: deque[Callable[[], Awaitable[object]]] = deque()
        """Outcomes of sends that the database did not take (an outage), in order; written
        before anything else is claimed. Their deliveries stay leased meanwhile."""

    def wake(self, _count: int = 0) -> None:
        """New deliveries were stored: stop waiting and look."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, idle: float = 5.0) -> None:
        """Send until ``stop`` is set, looking for due deliveries whenever woken or every
        ``idle`` seconds (retries become due with time, not with events)."""
        while not stop.is_set():
            # Cleared before looking, not after: a wake-up while sending is not lost.
            self._wake.clear()
            try:
                worked = await self.send_due(stop)
            except StorageError as exc:  # an outage: retried within seconds, one line
                self.storage.failed(self.clock(), str(exc))
                log.warning("delivery paused: %s; retrying in %s", exc, self.storage.retry_in())
                # New deliveries stored mean the database answers again: look at once.
                await self._rest(stop, self.storage.retry_in().total_seconds())
                continue
            except Exception:  # the loop must survive a bug
                log.exception("delivery loop error; retrying shortly")
                worked = 0
            else:
                if worked:  # claims write; an empty look proves nothing about writes
                    self.storage.recovered(self.clock())
            await self._tell_blocked()
            if not worked:
                await self._rest(stop, idle)
        await self._tell_blocked(now=True)  # not lost with the stop
        try:
            await self._settle()
        except StorageError as exc:
            log.warning(
                "%d send outcomes not recorded at stop (%s); their alerts are sent again "
                "once their lease runs out",
                len(self._owed),
                exc,
            )

    async def _tell_blocked(self, *, now: bool = False) -> None:
        """Tell the admins who blocked the bot, once the summary is due (or ``now``)."""
        summary = self.blocked.take(self.clock(), early=now)
        if summary is not None:
            await self.messenger.notify_admins(summary)

    async def _rest(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait ``seconds``, or less if woken or stopped."""
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        _, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()

    async def _record(self, write: Callable[[], Awaitable[T]]) -> T | None:
        """Write a send's outcome. When the database fails, the write is kept (with every
        later one, in order) to be made before the next claim: the message went out, and its
        deliveries stay leased, so it is neither lost nor sent again. None if kept."""
        if not self._owed:
            try:
                return await write()
            except StorageError as exc:
                self.storage.failed(self.clock(), str(exc))
                log.warning("send outcome kept in memory: %s", exc)
        self._owed.append(write)
        return None

    async def _settle(self) -> None:
        """Write the outcomes kept during an outage; raises StorageError if it goes on."""
        if not self._owed:
            return
        count = len(self._owed)
        while self._owed:
            await self._owed[0]()
            self._owed.popleft()
        self.storage.recovered(self.clock())
        log.info("%d send outcomes kept during the outage recorded", count)

    @property
    def owed(self) -> int:
        """Send outcomes not yet written to the database."""
        return len(self._owed)

    async def send_due(self, stop: asyncio.Event | None = None) -> int:
        """Claim one batch of due deliveries and send it; returns how many were claimed."""
        await self._settle()
        policy = self.policy
        wall = self.clock()
        alerts = [
            self.describe(a)
            for a in await self.store.claim_due(wall, policy.lease, policy.batch, policy.per_chat)
        ]
        digests = [
            self.describe(a)
            for a in await self.store.claim_digests(
                wall, policy.lease, policy.digest_batch, policy.digest_chats
            )
        ]
        claimed = len(alerts) + len(digests)
        prefs: dict[str, ChatPrefs] = {}

        def grouping(chat: str) -> bool:
            return prefs[chat].grouping

        if claimed:
            alerts, digests = await self._resolve_names(alerts, digests)
            prefs = await self.store.chat_prefs({a.chat for a in [*alerts, *digests]})
            # Versions of stories the chats have join their messages first, so that the
            # edits claimed next list them.
            alerts, digests = await self._join(alerts, digests, grouping, wall)
        edits = [
            replace(job, alert=self.describe(job.alert))
            for job in await self.store.claim_edits(wall, policy.lease, policy.edit_batch)
        ]
        if not claimed and not edits:
            return 0
        missing = {job.chat for job in edits} - set(prefs)
        if missing:
            prefs.update(await self.store.chat_prefs(missing))
        queues: dict[str, deque[_Message]] = {}
        held: list[tuple[int, datetime]] = []
        now_due: list[Alert] = []
        for alert in alerts:
            release = alert_release(wall, prefs[alert.chat], alert)
            if release is not None:
                held.append((alert.delivery_id, release))  # folded in its digest, if any
            else:
                now_due.append(alert)
        for alert in fold(now_due, grouping):
            queues.setdefault(alert.chat, deque()).append(
                _single(alert, prefs[alert.chat], self.speech)
            )
        if held:
            self.stats.deferred += len(held)
            await self.store.defer(held)
        by_chat: dict[str, list[Alert]] = {}
        for alert in digests:
            by_chat.setdefault(alert.chat, []).append(alert)
        for chat, chat_alerts in by_chat.items():
            # A digest comes before the chat's single alerts: it holds the older news.
            queues.setdefault(chat, deque()).extendleft(
                reversed(_digest(chat, fold(chat_alerts, grouping), prefs[chat], self.speech))
            )
        for job in edits:  # after the chat's new alerts: an edit changes an older message
            queues.setdefault(job.chat, deque()).append(_edited(job, prefs[job.chat], self.speech))
        # Work on the batch for at most a third of the lease, well before it runs out.
        started = self.monotonic()
        deadline = started + policy.lease.total_seconds() / 3
        busy: set[str] = set()
        tasks: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(policy.concurrency)

        async def send_one(message: _Message, paced: str, group: bool) -> None:
            try:
                if not await self._deliver(message):
                    # Blocked or migrated: the store has already held or moved the chat's
                    # other deliveries, so the rest of this batch for it is not attempted.
                    queues.pop(message.chat, None)
            finally:
                self.pacer.end(paced, group, self.monotonic())
                busy.discard(message.chat)
                slots.release()

        try:
            while queues and not (stop and stop.is_set()):
                now = self.monotonic()
                if now >= deadline:
                    break
                if self._wake.is_set() and now - started >= policy.rebatch_after:
                    # New deliveries were stored: claim again, so that other chats' new alerts
                    # join the turns instead of waiting for this batch's slow chats.
                    break
                waits = []
                for chat in list(queues):
                    if chat in busy:
                        continue
                    # Telegram's limits are per chat, whichever forum topic a message goes to.
                    paced = base_chat(chat)
                    group = self.messenger.is_group(chat)
                    wait = self.pacer.delay(paced, group, now)
                    if wait > 0:
                        waits.append(wait)
                        continue
                    await slots.acquire()
                    message = queues[chat].popleft()
                    if not queues[chat]:
                        del queues[chat]
                    busy.add(chat)
                    self.pacer.begin(paced, group, self.monotonic())
                    task = asyncio.create_task(send_one(message, paced, group))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    now = self.monotonic()
                pause = min(waits, default=0.05) if not busy else 0.02
                await asyncio.sleep(min(max(pause, 0.005), max(deadline - now, 0.005)))
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            leftover = [i for q in queues.values() for m in q for i in m.ids]
            if leftover:
                await self._record(lambda: self.store.give_back(leftover, self.clock()))
            # Edits not made in this batch are due again when their lease runs out.
            self.pacer.forget(self.monotonic())  # bounded memory: chats not written to lately
        return claimed + len(edits)

    async def _join(
        self,
        alerts: list[Alert],
        digests: list[Alert],
        grouping: Callable[[str], bool],
        now: datetime,
    ) -> tuple[list[Alert], list[Alert]]:
        """Alerts whose chat already got a message for their story join it (it is edited
        later to list them) instead of going out; returns the others."""
        clustered = {
            (a.chat, a.cluster)
            for a in [*alerts, *digests]
            if a.cluster is not None and grouping(a.chat)
        }
        if not clustered:
            return alerts, digests
        window = self.policy.edits.window
        sent = await self.store.story_messages(
            {(chat, cluster) for chat, cluster in clustered if cluster is not None}, now - window
        )
        everything = [*alerts, *digests]
        joined, _ = joins(everything, sent, grouping)
        if not joined:
            return alerts, digests
        # At the batch's time: the edits claimed next (read at that time) include them.
        await self._record(lambda: self.store.join(joined, now, self.policy.edits))
        self.stats.joined += len(joined)
        gone = {j.delivery_id for j in joined}
        for alert in everything:
            if alert.delivery_id in gone:
                log.info("%r joins its story's message in %s", alert.story.title[:80], alert.chat)
        return (
            [a for a in alerts if a.delivery_id not in gone],
            [a for a in digests if a.delivery_id not in gone],
        )

    async def _resolve_names(
        self, alerts: list[Alert], digests: list[Alert]
    ) -> tuple[list[Alert], list[Alert]]:
        """Alerts for chats named by ``@username`` are given back and moved to the chat's
        numeric id once Telegram tells it: every delivery, setting and hold then refers to the
        id (the next batch sends them). A name Telegram cannot resolve now is sent to as is."""
        batch = [*alerts, *digests]
        names = {base_chat(a.chat) for a in batch if a.chat.startswith("@")}
        moved: set[str] = set()
        for name in names:
            ids = [a.delivery_id for a in batch if base_chat(a.chat) == name]

            async def give_back(ids: list[int] = ids) -> None:
                await self.store.give_back(ids, self.clock())

            if await _resolve(name, self.messenger, self.store, self.clock, before=give_back):
                moved.add(name)
        if not moved:
            return alerts, digests

        def keep(batch: list[Alert]) -> list[Alert]:
            return [a for a in batch if base_chat(a.chat) not in moved]

        self.wake()
        return keep(alerts), keep(digests)

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

    async def _deliver(self, message: _Message) -> bool:
        """Send one message and record the outcome for every delivery it carries; False if
        the chat can take no more now."""
        if message.edit is not None:
            return await self._deliver_edit(message, message.edit)
        ids = message.ids
        try:
            message_id = await self.messenger.send(
                message.chat,
                message.html,
                message.plain,
                message.actions,
                silent=message.silent,
                link_preview=message.link_preview,
                language=message.language,
            )
        except RateLimited as exc:
            self.stats.rate_limited += 1
            self.pacer.pause(exc.retry_after, self.monotonic())
            when = self.clock() + timedelta(seconds=exc.retry_after)
            limited = str(exc)
            for delivery_id in ids:
                await self._record(
                    partial(self.store.retry_later, delivery_id, when, limited, count_attempt=False)
                )
            log.warning("telegram rate limit: pausing all sends for %gs", exc.retry_after)
        except ChatMoved as exc:
            old, new = base_chat(message.chat), exc.new_chat
            await self._record(lambda: self.store.give_back(ids, self.clock()))
            await self._record(
                lambda: self.store.merge_chat(old, new, self.clock(), reason=f"migrated to {new}")
            )
            log.info("chat %s migrated to %s; its alerts and settings follow", old, exc.new_chat)
            self.wake()
            return False
        except ChatUnavailable as exc:
            self.stats.held += len(ids)
            chat = base_chat(message.chat)  # a forum topic is unreachable when its chat is
            reason = exc.reason
            before = await self._record(
                lambda: self.store.set_chat_status(
                    chat, ChatStatus.BLOCKED, self.clock(), reason=reason
                )
            )
            log.warning("%s; holding its alerts until it is reachable again", exc)
            if before == ChatStatus.BLOCKED:  # tell the admins once, not for every alert
                return False
            if is_person(chat):  # told in sum (see bot.core.notices)
                self.blocked.add(chat, self.clock())
            else:
                await self.messenger.notify_admins(f"Alerts to chat {chat} are held: {exc.reason}")
            return False
        except BadMessage as exc:
            if message.html is None:
                await self._park(message, str(exc))
            else:
                log.warning("%s; resending as plain text", exc)
                error = str(exc)
                for delivery_id in ids:
                    await self._record(
                        partial(
                            self.store.retry_later, delivery_id, self.clock(), error, plain=True
                        )
                    )
        except AnswerLost as exc:  # maybe delivered: never resent at once
            self.stats.maybe_sent += len(ids)
            await self._retry(message, str(exc), at_least=self.policy.maybe_sent_delay)
        except DeliveryError as exc:  # transient: network, time-out, server error
            await self._retry(message, str(exc))
        except Exception as exc:  # a bug must not lose the alert or stop the loop
            log.exception("unexpected error sending deliveries %s", ids)
            await self._retry(message, f"{type(exc).__name__}: {exc}")
        else:
            now = self.clock()
            self.stats.sent += len(ids)
            await self._record(lambda: self.store.mark_many_sent(ids, message_id, now))
            if message.digest:
                self.stats.digests += 1
                log.info("sent a digest of %d alerts to %s", len(ids), message.chat)
            else:
                first = message.alerts[0]
                log.info(
                    "sent %r to %s (rules %s)",
                    first.story.title[:80],
                    message.chat,
                    ", ".join(first.rule_ids),
                )
        return True  # sent, or to be retried: the chat itself can take more

    async def _deliver_edit(self, message: _Message, job: EditJob) -> bool:
        """Edit a sent alert to list the versions that joined it. An edit that fails is
        made later, or given up (the versions stay recorded as part of the message)."""
        policy = self.policy.edits
        listed = len(others(job.alert))
        if listed <= job.listed:  # nothing new to show (a version from a listed outlet)
            await self._record(partial(self._edited, job, job.listed))
            return True
        try:
            await self.messenger.edit(
                job.chat,
                job.message_id,
                message.html,
                message.plain,
                message.actions,
                link_preview=message.link_preview,
                language=message.language,
            )
        except RateLimited as exc:
            self.stats.rate_limited += 1
            self.pacer.pause(exc.retry_after, self.monotonic())
            when = self.clock() + timedelta(seconds=exc.retry_after)
            await self._record(
                partial(self.store.edit_later, job.chat, job.message_id, when, policy, failed=False)
            )
        except (ChatMoved, ChatUnavailable, BadMessage) as exc:
            # Deleted, too old to edit, or the chat is gone: its next alert tells the rest.
            log.info("message %d in %s is not edited: %s", job.message_id, job.chat, exc)
            await self._record(partial(self.store.drop_edit, job.chat, job.message_id))
        except Exception as exc:  # network, server, or a bug: later, a few times
            if not isinstance(exc, DeliveryError):
                log.exception("unexpected error editing message %d", job.message_id)
            when = self.clock() + policy.every
            await self._record(
                partial(self.store.edit_later, job.chat, job.message_id, when, policy, failed=True)
            )
        else:
            self.stats.edits += 1
            await self._record(partial(self._edited, job, listed))
            log.info(
                "message %d in %s now lists %d other versions",
                job.message_id,
                job.chat,
                len(job.alert.also),
            )
        return True

    async def _edited(self, job: EditJob, listed: int) -> None:
        """Record that ``job``'s message lists ``listed`` other outlets now."""
        policy = self.policy.edits
        await self.store.edited(
            job.chat, job.message_id, job.rendered_at, self.clock(), policy, listed
        )

    async def _retry(self, message: _Message, error: str, at_least: float = 0.0) -> None:
        attempts = message.attempts + 1
        if attempts >= self.policy.max_attempts:
            await self._park(message, error)
            return
        delay = retry_delay(
            attempts, self.policy.retry_base, self.policy.retry_cap, jitter=self.rng.random() * 0.5
        )
        delay = max(delay, at_least)
        self.stats.retried += 1
        when = self.clock() + timedelta(seconds=delay)
        for delivery_id in message.ids:
            await self._record(partial(self.store.retry_later, delivery_id, when, error))
        log.warning("%s; retry %d in %.0fs", error, attempts, delay)

    async def _park(self, message: _Message, error: str) -> None:
        self.stats.parked += len(message.ids)
        for delivery_id in message.ids:
            await self._record(partial(self.store.park, delivery_id, error, self.clock()))
        log.error("giving up on deliveries %s to %s: %s", message.ids, message.chat, error)
        titles = "\n".join(a.story.title for a in message.alerts[:5])
        await self.messenger.notify_admins(
            f"{len(message.ids)} alert(s) could not be delivered to {message.chat} and were "
            f"parked: {error}\n{titles}"
        )


def with_rules(
    rules: Callable[[], Mapping[str, Rule]], feed_titles: dict[str, str]
) -> Callable[[Alert], Alert]:
    """A ``describe`` function that names rules and feeds as the configuration in force does,
    and applies each rule's delivery options (silent, link preview, priority)."""

    def describe_rule(match: RuleMatch, by_id: Mapping[str, Rule]) -> RuleMatch:
        rule = by_id.get(match.rule_id)
        if rule is None:  # removed since: shown by its id, with what it had
            return match
        return replace(
            match,
            title=rule.title,
            silent=rule.silent,
            link_preview=rule.link_preview,
            priority=PRIORITIES.get(rule.priority, 0),
        )

    def describe(alert: Alert) -> Alert:
        by_id = rules()
        return replace(
            alert,
            rules=tuple(describe_rule(r, by_id) for r in alert.rules),
            feed_title=feed_titles.get(alert.feed_title, alert.feed_title),
            also=tuple(
                replace(o, feed_title=feed_titles.get(o.feed_title, o.feed_title))
                for o in alert.also
            ),
        )

    return describe


async def resolve_chat_names(
    names: Sequence[str],
    messenger: Messenger,
    store: DeliveryStore,
    clock: Callable[[], datetime],
) -> None:
    """Learn the ids of chats named by ``@username`` (when the bot starts and when the rules
    change): from then on every delivery, setting and hold of such a chat refers to its id.
    A name Telegram cannot resolve now is tried again when first sent to."""
    for name in names:
        await _resolve(name, messenger, store, clock)


async def _resolve(
    name: str,
    messenger: Messenger,
    store: DeliveryStore,
    clock: Callable[[], datetime],
    before: Callable[[], Awaitable[None]] | None = None,
) -> bool:
    """Merge ``@name`` into its chat's id if Telegram tells it; True if it did. ``before``
    runs first (giving back what a sender holds of that name)."""
    resolved = await messenger.resolve(name)
    if resolved is None or resolved == name:
        return False
    if before is not None:
        await before()
    await store.merge_chat(name, resolved, clock(), reason=f"is {resolved}")
    log.info("chat %s is %s; its alerts and settings now refer to the id", name, resolved)
    return True
