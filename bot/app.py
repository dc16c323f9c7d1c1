"""The composition root: the one place that builds the IO objects and wires them together.

:class:`App` owns the database, the HTTP client, the parser workers, the messenger (Telegram, or
the console when no token is configured), the scheduler, the sender and the instance's role.
``run`` keeps it all going until asked to stop; ``run_once`` polls every feed once, delivers,
and returns. Every instance polls feeds; the one holding the leader lease
(:mod:`bot.leadership`) also receives updates, sends and keeps house.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.announcements import announce_gone
from bot.config import Config
from bot.console import ConsoleMessenger
from bot.core import health, reports
from bot.core.chats import base_chat
from bot.core.digest import ChatPrefs
from bot.core.errors import ChatUnavailable, ConfigError, Problem, StorageError
from bot.core.health import FeedHealth
from bot.core.models import FeedSpec, FeedState, Fetched, ParsedFeed, Story
from bot.core.outage import StorageHealth
from bot.core.pacing import Pacer
from bot.core.ports import Messenger
from bot.core.rules import RuleBook
from bot.feedreload import FeedReloader
from bot.feeds.fetch import Fetcher, make_client
from bot.feeds.parse import ParserPool, parse_feed
from bot.grouping import ClusterStage
from bot.lanes import Lanes
from bot.leadership import Leadership, StoredUpdates
from bot.metrics import Endpoints, Metrics
from bot.pipeline import Pipeline, PollResult
from bot.polling import FeedPoller
from bot.reloader import RuleReloader
from bot.scheduler import FeedScheduler
from bot.sender import Sender, SendPolicy, resolve_chat_names, with_rules
from bot.storage import Store
from bot.telegram import i18n
from bot.telegram.commands import Commands
from bot.telegram.replies import Replier
from bot.telegram.runtime import TelegramRuntime
from bot.telegram.webhook import WebhookReceiver
from bot.watching import WatchSync

log = logging.getLogger(__name__)

CONSOLE_CHAT = "console"
"""The one recipient of every alert when there is no Telegram token."""

SENDER_IDLE = 2.0
"""Seconds between the sender's looks for due deliveries when nothing woke it: deliveries
other instances queue are found within this."""

NOTICE_MEMORY = timedelta(minutes=10)
"""How long a sent admin notice keeps the same text queued by other instances from going out
again."""


def send_policy(config: Config) -> SendPolicy:
    d = config.delivery
    return SendPolicy(
        lease=d.lease,
        concurrency=d.concurrency,
        max_attempts=d.max_attempts,
        retry_base=d.retry_base.total_seconds(),
        retry_cap=d.retry_cap.total_seconds(),
        maybe_sent_delay=d.maybe_sent_delay.total_seconds(),
        blocked_notice=d.blocked_notice,
        edits=config.clustering.edit_policy(),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Options:
    """Knobs that are not user configuration: for tests and for the command line."""

    parse_workers: int = max(1, min(2, (os.cpu_count() or 1) - 1))
    """Parser processes: every core but one, which the bot's own process (fetching, matching,
    storing, sending) keeps busy; at least one, so parsing never blocks the event loop."""
    drain_budget: float = 120.0
    """``run --once``: how long to keep delivering before exiting (the rest stays queued)."""
    console: TextIO | None = None
    clock: Callable[[], datetime] = utc_now


class App:
    """Everything the bot runs, wired from a validated :class:`Config`. Wiring only: the
    rules in force live in :class:`RuleReloader`, the feeds' states in :class:`FeedPoller`,
    delivery in :class:`Sender`, report texts in :mod:`bot.core.reports`."""

    def __init__(self, config: Config, store: Store, options: Options) -> None:
        self.config = config
        self.store = store
        self.options = options
        self.clock = options.clock
        self.started_at = self.clock()
        self._notices: set[asyncio.Task[None]] = set()
        self._sent_notices: dict[str, datetime] = {}
        coordination = config.coordination
        self.leadership = Leadership(store, self.clock, ttl=coordination.leader_lease)
        self.leadership.on_elected.append(self._lead)
        self.leadership.on_deposed.append(self._follow)
        feed_tags = {f.name: f.tags for f in config.feeds}
        self._feed_tags = feed_tags
        self._feed_titles = config.feed_titles()
        """Feed names -> titles and tags in force (updated in place when the feeds reload)."""
        self.reloader = RuleReloader(
            config.rules_path,
            feed_tags,
            notify_admins=self.notify_admins,
            on_reload=lambda book: setattr(self.pipeline, "rules", book),
        )
        self.watch_sync = WatchSync(store, lambda: self.reloader.book)
        self._titles = {r.id: r.title for r in self.reloader.book.rules}
        """Every rule title seen in this run, to name a removed rule to its subscribers."""
        self.announcing: asyncio.Task[None] | None = None
        """Removed topics being announced (started by a reload)."""
        polling = config.polling
        self.http = make_client(
            user_agent=polling.user_agent,
            connect_timeout=polling.connect_timeout.total_seconds(),
            read_timeout=polling.timeout.total_seconds(),
            max_redirects=polling.max_redirects,
            max_connections=polling.concurrency,
            allow_private_redirects=polling.allow_private_redirects,
        )
        self.parser = ParserPool(options.parse_workers)
        self.telegram: TelegramRuntime | None = None
        # One pacer for alerts and replies: Telegram's limits are per bot, and only the leader
        # sends (see bot.leadership).
        self.pacer = pacer = Pacer()
        self.storage_health = StorageHealth(
            notice_after=config.storage.outage_notice, notify=self._notify_later
        )
        messenger: Messenger
        token = config.telegram.token
        if token:
            self.telegram = TelegramRuntime(
                token=token,
                api_url=config.telegram.api_url,
                admins=config.telegram.admins,
                commands=Commands(
                    store,
                    lambda: self.reloader.book,
                    self.clock,
                    admins=config.telegram.admins,
                    reload=self.reload_rules,
                    status=self.status_report,
                    feeds=self.feeds_report,
                    replier=Replier(pacer),
                    watch_limit=config.telegram.watches_per_chat,
                    on_watch=self.watch_sync.apply,
                    language=config.telegram.language,
                ),
                poll_timeout=config.telegram.poll_timeout.total_seconds(),
                request_timeout=config.telegram.request_timeout.total_seconds(),
                send_timeout=config.telegram.send_timeout.total_seconds(),
                ledger=StoredUpdates(store, self.leadership.id, self.clock),
                webhook=(
                    (config.telegram.webhook.url, config.telegram.webhook.secret_token)
                    if config.telegram.webhook
                    else None
                ),
            )
            messenger = self.telegram.messenger
        else:
            messenger = ConsoleMessenger(options.console)
        self.messenger = messenger
        clustering = config.clustering
        self.clusters = (
            ClusterStage(
                store, self.clock, window=clustering.window, use_semantic=clustering.semantic
            )
            if clustering.enabled
            else None
        )
        self.sender = Sender(
            store=store,
            messenger=messenger,
            clock=self.clock,
            describe=with_rules(lambda: self.reloader.book.routes, self._feed_titles),
            policy=send_policy(config),
            pacer=pacer,
            storage=self.storage_health,
            speech=i18n.speech(config.telegram.language),
        )
        self.pipeline = Pipeline(
            fetcher=Fetcher(
                self.http, max_body=polling.max_body, total_timeout=polling.timeout.total_seconds()
            ),
            parser=self.parser,
            store=store,
            rules=self.reloader.book,
            poll_policy=polling.policy(),
            seed_policy=config.first_poll.policy(),
            clock=self.clock,
            on_deliveries=self.sender.wake,
            on_feed_gone=self._feed_gone,
            only_recipient=None if self.telegram else CONSOLE_CHAT,
            burst=config.delivery.burst,
            storage=self.storage_health,
            clusters=self.clusters,
        )
        self.feeds = FeedPoller(
            self.pipeline,
            store,
            config.feed_specs(),
            self.clock,
            polling.concurrency,
            instance=self.leadership.id,
            lease=coordination.poll_lease,
        )
        self.scheduler: FeedScheduler | None = None
        self.feed_reloader = FeedReloader(
            config,
            self.feeds,
            store,
            notify_admins=self.notify_admins,
            scheduler=lambda: self.scheduler,
            titles=self._feed_titles,
            tags=self._feed_tags,
        )
        self._queue_depth: dict[str, int] = {}
        self.metrics = Metrics(self.sender.stats, self.storage_health, lambda: self._queue_depth)
        self.feeds.observers.append(self.metrics.observe_poll)
        self.feeds.on_takeover.append(lambda feed, holder: self.metrics.takeover("feed"))
        self.metrics.leading = self.leadership.leads
        self.endpoints: Endpoints | None = None
        """The /metrics, /healthz and /readyz server while running (observability.listen)."""
        self._running = False
        self._term: asyncio.Event | None = None
        """Set to end the sender's run when this instance stops leading."""
        self._sending: asyncio.Task[None] | None = None
        self.webhook: WebhookReceiver | None = None
        """Receives updates by webhook while running (telegram.webhook)."""
        self._fed: dict[int, datetime] = {}
        """Webhook updates handed to the Telegram application in this term, and when."""
        self._draining = asyncio.Lock()

    @classmethod
    async def create(cls, config: Config, options: Options | None = None) -> App:
        store = await Store.open(config.database_url())
        try:
            return cls(config, store, options or Options())
        except BaseException:
            await store.close()
            raise

    # The parts tests and commands look at.
    @property
    def rules(self) -> RuleBook:
        return self.reloader.book

    @property
    def rules_error(self) -> str | None:
        return self.reloader.error

    @property
    def specs(self) -> dict[str, FeedSpec]:
        return self.feeds.specs

    @property
    def states(self) -> dict[str, FeedState]:
        return self.feeds.states

    async def poll(self, name: str) -> PollResult:
        return await self.feeds.poll(name)

    async def reload_rules(self) -> str:
        """SIGHUP and /reload: the feed list and the rules read again; a report per part."""
        feeds, _ = await self.feed_reloader.reload()
        self._titles.update({r.id: r.title for r in self.reloader.book.rules})
        report = await self.reloader.reload()
        await self._resolve_chat_names()
        self._announce_later()
        return f"{report}\n{feeds}"

    async def _watch_feeds(self) -> None:
        if await self.feed_reloader.watch():
            await self.reloader.reload()  # rules scoped by feed tags see the new tags

    def _announce_later(self) -> None:
        """Tell removed topics' subscribers without holding up the reload (its /reload answer
        first); the one-minute job does it anyway (bot.announcements)."""
        if self.leadership.leads() and (self.announcing is None or self.announcing.done()):
            self.announcing = asyncio.get_running_loop().create_task(self._announce_guarded())

    async def _announce_guarded(self) -> None:
        try:
            await self._announce_gone()
        except Exception:  # a bug must not go unseen in a task nobody awaits
            log.exception("announcing removed topics failed")

    async def _announce_gone(self) -> None:
        """Tell the subscribers of rules no longer in force, once (bot.announcements): only
        while connected to Telegram, so that a notice is not spent on an outage."""
        telegram = self.telegram
        if telegram is None or not telegram.ready.is_set():
            return
        book = self.reloader.book
        default = self.config.telegram.language

        def say(rule_id: str, title: str, prefs: ChatPrefs) -> str:
            language = i18n.pick(prefs.language, prefs.user_language, default)
            return i18n.rule_gone(rule_id, title, language)

        async def send(chat: str, html: str) -> None:
            if not await telegram.tell(chat, html):
                raise ChatUnavailable(chat, "the notice was not taken")

        await announce_gone(self.store, book.by_id, self._titles, say, send, self.clock())

    def _feed_gone(self, spec: FeedSpec, reason: str) -> None:
        self._notify_later(f"Feed {spec.name} ({spec.url}) is disabled: {reason}")

    def _notify_later(self, text: str) -> None:
        """Tell the admins without waiting for it (from code that must not block)."""
        task = asyncio.get_running_loop().create_task(self.notify_admins(text))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def notify_admins(self, text: str) -> None:
        """Tell the admins: at once from the leader (or a bot not running as a service),
        else through the database, for the leader to send (:meth:`_send_notices`). While
        this instance finds the database away (and with it any leader's hold), or a notice
        cannot be queued, it sends the notice itself: each instance that cannot reach the
        database says so."""
        direct = self.leadership.leads() or not self._running
        if not direct and self.storage_health.since is None:
            try:
                await self.store.queue_notice(text, self.leadership.id, self.clock())
                return
            except StorageError as exc:
                log.warning("admin notice not queued (%s); sending it from here", exc)
        self._sent_notices[text] = self.clock()
        await self.messenger.notify_admins(text)

    async def _send_notices(self) -> None:
        """Send the notices other instances queued. Instances see the same trouble (a broken
        rule file, the database away): a text sent in the last ten minutes goes once."""
        now = self.clock()
        for text, at in list(self._sent_notices.items()):
            if now - at > NOTICE_MEMORY:
                del self._sent_notices[text]
        for text in await self.store.take_notices():
            if text in self._sent_notices:
                continue
            self._sent_notices[text] = now
            await self.messenger.notify_admins(text)

    async def _received(self, update_id: int, body: str) -> None:
        """An update came by webhook (to this instance; any instance may get any update):
        stored for the leader, and handled at once if this is the leader."""
        await self.store.inbox_put(update_id, body, self.clock())
        if self.leadership.leads():
            await self._drain()  # with any earlier one another instance received: in order

    async def _drain(self) -> None:
        """The leader hands over the updates received (by any instance) in their order."""
        async with self._draining:
            now = self.clock()
            self._fed = {i: at for i, at in self._fed.items() if now - at < NOTICE_MEMORY}
            for update_id, body in await self.store.inbox_pending():
                await self._feed(update_id, body)

    async def _feed(self, update_id: int, body: str) -> None:
        if update_id in self._fed or self.telegram is None:
            return
        self._fed[update_id] = self.clock()
        await self.telegram.feed(body)

    def _leader_only(self, job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.leadership.leads():
                await job()

        return run

    async def _lead(self) -> None:
        """This instance became leader: take the sending over from where it was left."""
        now = self.clock()
        try:
            recovered = await self.store.recover_leased(now)
            sent = await self.store.recent_sends(now - timedelta(seconds=61))
        except StorageError as exc:
            log.warning("taking the sending over: %s", exc)
        else:
            if recovered:
                log.warning("%d deliveries leased by the previous sender are due again", recovered)
            mono = time.monotonic()
            self.pacer.seed(
                (
                    base_chat(chat),
                    self.messenger.is_group(chat),
                    mono - (now - at).total_seconds(),
                )
                for chat, at in sent
            )
        if self.leadership.takeovers:
            self.metrics.takeover("telegram")
        self._fed = {}
        if self.telegram is not None:
            await self.telegram.receive(True)
            names = asyncio.get_running_loop().create_task(self._resolve_chat_names())
            self._notices.add(names)
            names.add_done_callback(self._notices.discard)
        self._term = asyncio.Event()
        self._sending = asyncio.create_task(self.sender.run(self._term, idle=SENDER_IDLE))

    async def _follow(self) -> None:
        """This instance no longer leads (or is stopping): stop sending and receiving."""
        if self._term is not None:
            self._term.set()
        if self._sending is not None:
            await self._sending
            self._sending = None
        if self.telegram is not None:
            await self.telegram.receive(False)

    async def _resolve_chat_names(self) -> None:
        """Channels and groups named by ``@username`` in the rules are known by their ids."""
        names = {t.partition("/")[0] for r in self.rules.rules for t in r.notify}
        await resolve_chat_names(
            sorted(n for n in names if n.startswith("@")), self.messenger, self.store, self.clock
        )

    async def run_once(self) -> list[PollResult]:
        """Poll every enabled feed once (bounded concurrency), deliver, and return."""
        if self.telegram is not None:
            await self.telegram.start(receive_updates=False)
            await self._resolve_chat_names()
        await self._load_watches()
        results = await self.feeds.poll_all()
        await self.sender.drain(self.options.drain_budget)
        return results

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down cleanly: no poll or send is cut short
        unless it overruns its grace period, and whatever is queued stays in the database."""
        if self.telegram is not None:
            await self.telegram.start(receive_updates=False)  # updates: the leader's
        await self.feeds.sync()
        await self._load_watches()
        if self.clusters is not None:
            log.info("%s", self.clusters.mode)
        polling = self.config.polling
        lanes = Lanes(
            host_of=self.feeds.host_of,
            per_host=polling.per_host,
            slow_slots=int(polling.concurrency * polling.slow_share),
            slow_after=polling.slow_after.total_seconds(),
        )
        self.feeds.lanes = lanes
        self.scheduler = scheduler = FeedScheduler(
            self.feeds.scheduled_poll, concurrency=polling.concurrency, lanes=lanes
        )
        self.feeds.plan(scheduler)
        scheduler.every("prune", timedelta(hours=6), self._leader_only(self._prune))
        scheduler.every("notices", timedelta(seconds=5), self._leader_only(self._send_notices))
        scheduler.every("gone-rules", timedelta(minutes=1), self._leader_only(self._announce_gone))
        if self.telegram is not None:
            telegram = self.telegram
            # Retries what failed on becoming leader (setting the webhook, say).
            scheduler.every(
                "telegram-receive",
                timedelta(seconds=15),
                self._leader_only(lambda: telegram.receive(True)),
            )
            if self.config.telegram.webhook is not None:
                scheduler.every("inbox", timedelta(seconds=1), self._leader_only(self._drain))
        scheduler.every("rules-watch", timedelta(seconds=1), self._watch_rules)
        scheduler.every("feeds-watch", timedelta(seconds=1), self._watch_feeds)
        scheduler.every("watches", timedelta(seconds=5), self._sync_watches)
        scheduler.every(
            "feeds-watchdog", timedelta(seconds=30), lambda: self.feeds.replan_lost(scheduler)
        )
        scheduler.every("feed-states", self.pipeline.flush_after, self.pipeline.flush)
        scheduler.every("queue-depth", timedelta(seconds=15), self._read_queue_depth)
        scheduler.start()
        await self._read_queue_depth()
        self._running = True
        if (address := self.config.observability.address()) is not None:
            try:
                self.endpoints = Endpoints(*address, self.metrics, self._not_ready)
            except OSError as exc:
                await scheduler.shutdown()
                where = f"observability.listen {self.config.observability.listen}"
                raise ConfigError([Problem(self.config.source, f"{where}: {exc}")]) from exc
            self.endpoints.start()
        if self.telegram is not None and (hook := self.config.telegram.webhook) is not None:
            try:
                self.webhook = WebhookReceiver(
                    *hook.address(),
                    hook.path,
                    hook.secret_token,
                    self._received,
                    asyncio.get_running_loop(),
                )
            except OSError as exc:
                await scheduler.shutdown()
                where = f"telegram.webhook.listen {hook.listen}"
                raise ConfigError([Problem(self.config.source, f"{where}: {exc}")]) from exc
            self.webhook.start()
        await self.leadership.step()  # a lone instance leads from the start
        log.info(
            "running as instance %s (%s): %d feeds, %d rules, delivering to %s",
            self.leadership.id,
            self.leadership.role,
            len(self.specs),
            len(self.rules.rules),
            "Telegram" if self.telegram else "the console (no TELEGRAM_BOT_TOKEN set)",
        )
        leading = asyncio.create_task(self.leadership.run(stop))
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            self._running = False
            await leading
            await scheduler.shutdown()
            await self.leadership.stop()  # the sender ends; another instance may lead
            await self.pipeline.flush()  # the feed states written behind
            if self.endpoints is not None:
                self.endpoints.stop()
            if self.webhook is not None:
                self.webhook.stop()

    async def _read_queue_depth(self) -> None:
        try:
            counts = await self.store.delivery_counts()
        except StorageError:
            return  # an outage: the last figures stay, and /readyz says why
        self._queue_depth = {state.value: n for state, n in counts.items()}

    def _not_ready(self) -> str | None:
        """Why /readyz fails, or None: the bot runs and its database answers."""
        if not self._running:
            return "not running"
        return self.storage_health.describe(self.clock())

    async def _load_watches(self) -> None:
        self.reloader.adopt(await self.watch_sync.load())

    async def _sync_watches(self) -> None:
        await self.watch_sync.sync()

    async def _watch_rules(self) -> None:
        before = self.reloader.book
        await self.reloader.watch()
        if self.reloader.book is not before:
            self._titles.update({r.id: r.title for r in before.rules})
            await self._resolve_chat_names()
            self._announce_later()

    async def status_report(self) -> str:
        """What an admin's /status shows."""
        await self.feeds.refresh()  # other instances poll too
        now = self.clock()
        rows = health.feed_health(list(self.specs.values()), self.states, now)
        outage = self.storage_health.describe(now)
        try:
            counts = await self.store.delivery_counts()
        except StorageError:
            counts = None
        report = reports.status_report(
            rows,
            len(self.rules.rules),
            self.rules_error,
            counts,
            health.ago(self.started_at, now).removesuffix(" ago"),
        )
        return f"⚠ {outage}\n{report}" if outage else report

    async def feeds_report(self) -> str:
        """What an admin's /feeds shows: a card per feed, trouble first."""
        await self.feeds.refresh()
        rows = health.feed_health(list(self.specs.values()), self.states, self.clock())
        outage = self.storage_health.describe(self.clock())
        return "\n".join([*([f"⚠ {outage}"] if outage else []), *health.health_cards(rows)])

    async def _prune(self) -> None:
        storage = self.config.storage
        stories, deliveries = await self.store.prune(
            self.clock(), storage.story_retention, storage.delivery_retention
        )
        if stories or deliveries:
            log.info("pruned %d old stories and %d old deliveries", stories, deliveries)
        await self.store.prune_coordination(self.clock() - timedelta(days=2))

    async def close(self) -> None:
        if self.announcing is not None and not self.announcing.done():
            self.announcing.cancel()
        if self.telegram is not None:
            await self.telegram.stop()
        await self.http.aclose()
        self.parser.close()
        await self.feeds.claims.close()
        await self.pipeline.flush()
        await self.store.close()


async def fetch_stories(url: str, config: Config) -> list[Story]:
    """The stories of the feed at ``url``, fetched as the bot would fetch it."""
    _, parsed = await fetch_feed(url, config)
    return list(parsed.stories)


async def fetch_feed(url: str, config: Config) -> tuple[Fetched, ParsedFeed]:
    """The feed at ``url`` fetched and parsed as the bot would poll it."""
    fetched = await fetch_page(url, config)
    return fetched, parse_fetched(fetched)


def parse_fetched(fetched: Fetched) -> ParsedFeed:
    """A fetched body parsed as a feed (FeedError when it is not one)."""
    return parse_feed("cli", fetched.body, fetched.url, fetched.content_type)


async def fetch_page(url: str, config: Config) -> Fetched:
    """``url`` fetched as the bot fetches a feed (limits, redirects, user agent)."""
    polling = config.polling
    async with make_client(
        user_agent=polling.user_agent,
        connect_timeout=polling.connect_timeout.total_seconds(),
        read_timeout=polling.timeout.total_seconds(),
        max_redirects=polling.max_redirects,
        max_connections=1,
        allow_private_redirects=polling.allow_private_redirects,
    ) as client:
        fetcher = Fetcher(
            client, max_body=polling.max_body, total_timeout=polling.timeout.total_seconds()
        )
        return await fetcher.fetch("cli", url)


def read_file(path: Path) -> bytes:
    """A file the command line was given; a clear error when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read: {exc.strerror}")]) from exc


def file_feed(path: Path) -> ParsedFeed:
    """A saved feed file, parsed as the bot would parse its body."""
    return parse_feed(path.stem, read_file(path), path.resolve().as_uri())


def file_stories(path: Path) -> list[Story]:
    """The stories of a saved feed file, or one story from a text file (first line: the
    title; the rest: the summary)."""
    body = read_file(path)
    head = body.lstrip()[:200].lower()
    if path.suffix.lower() in (".txt", ".text") or not head.startswith((b"<", b"\xef\xbb\xbf<")):
        text = body.decode("utf-8", errors="replace").strip()
        title, _, rest = text.partition("\n")
        return [Story(feed=path.stem, key=path.name, title=title.strip(), summary=rest.strip())]
    return list(parse_feed(path.stem, body, path.resolve().as_uri()).stories)


async def stored_stories(config: Config, days: float) -> list[Story]:
    """Stories the bot stored in the last ``days`` days."""
    store = await Store.open(config.database_url())
    try:
        return await store.recent_stories(utc_now() - timedelta(days=days))
    finally:
        await store.close()


async def instances_status(config: Config) -> list[str]:
    """``newsbot status``: every instance sharing the database, its leases and heartbeat,
    then the outbox."""
    store = await Store.open(config.database_url())
    try:
        now = utc_now()
        lines = reports.instances_report(
            await store.instances(),
            await store.leases(),
            await store.feed_leases(now),
            now,
            stale_after=config.coordination.leader_lease,
        )
        counts = await store.delivery_counts()
    finally:
        await store.close()
    queue = ", ".join(f"{n} {state.value}" for state, n in sorted(counts.items()))
    return [*lines, f"Deliveries: {queue or 'none'}"]


async def feed_health(config: Config) -> list[FeedHealth]:
    """Each configured feed's health, from the database."""
    store = await Store.open(config.database_url())
    try:
        states = await store.feed_states()
    finally:
        await store.close()
    return health.feed_health(config.feed_specs(), states, utc_now())
