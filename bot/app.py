"""The composition root: the one place that builds the IO objects and wires them together.

:class:`App` owns the database, the HTTP client, the parser workers, the messenger (Telegram, or
the console when no token is configured), the scheduler and the sender. ``run`` keeps it all
going until asked to stop; ``run_once`` polls every feed once, delivers, and returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.config import Config
from bot.console import ConsoleMessenger
from bot.core import health
from bot.core.errors import ConfigError, Problem
from bot.core.health import FeedHealth
from bot.core.models import FeedSpec, FeedState, Story
from bot.core.ports import Messenger
from bot.core.rules import RuleBook
from bot.feeds.fetch import Fetcher, make_client
from bot.feeds.parse import ParserPool, parse_feed
from bot.pipeline import Pipeline, PollResult
from bot.rulefiles import load_rules, rules_fingerprint
from bot.scheduler import FeedScheduler
from bot.sender import Sender, SendPolicy, with_rules
from bot.storage import Store
from bot.telegram.commands import Commands
from bot.telegram.runtime import TelegramRuntime

log = logging.getLogger(__name__)

CONSOLE_CHAT = "console"
"""The one recipient of every alert when there is no Telegram token."""


def send_policy(config: Config) -> SendPolicy:
    d = config.delivery
    return SendPolicy(
        lease=d.lease,
        concurrency=d.concurrency,
        max_attempts=d.max_attempts,
        retry_base=d.retry_base.total_seconds(),
        retry_cap=d.retry_cap.total_seconds(),
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
    """Everything the bot runs, wired from a validated :class:`Config`."""

    def __init__(self, config: Config, store: Store, options: Options) -> None:
        self.config = config
        self.store = store
        self.options = options
        self.clock = options.clock
        self.feed_tags = {f.name: f.tags for f in config.feeds}
        self.rules: RuleBook = load_rules(config.rules_path, self.feed_tags).book(self.feed_tags)
        self.rules_error: str | None = None
        """Why the last reload was refused (the previous rules stay in force), or None."""
        self._rules_fingerprint = rules_fingerprint(config.rules_path)
        self._changing_rules: tuple[tuple[str, int, int], ...] | None = None
        self.specs: dict[str, FeedSpec] = {s.name: s for s in config.feed_specs()}
        self.states: dict[str, FeedState] = {}
        polling = config.polling
        self.http = make_client(
            user_agent=polling.user_agent,
            connect_timeout=polling.connect_timeout.total_seconds(),
            read_timeout=polling.timeout.total_seconds(),
            max_redirects=polling.max_redirects,
            max_connections=polling.concurrency,
        )
        self.parser = ParserPool(options.parse_workers)
        self.telegram: TelegramRuntime | None = None
        messenger: Messenger
        token = config.telegram.token
        if token:
            self.telegram = TelegramRuntime(
                token=token,
                api_url=config.telegram.api_url,
                admins=config.telegram.admins,
                commands=Commands(
                    store,
                    lambda: self.rules,
                    self.clock,
                    admins=config.telegram.admins,
                    reload=self.reload_rules,
                    status=self.status_report,
                    feeds=self.feeds_report,
                ),
                poll_timeout=config.telegram.poll_timeout.total_seconds(),
                request_timeout=config.telegram.request_timeout.total_seconds(),
            )
            messenger = self.telegram.messenger
        else:
            messenger = ConsoleMessenger(options.console)
        self.messenger = messenger
        self.sender = Sender(
            store=store,
            messenger=messenger,
            clock=self.clock,
            describe=with_rules(lambda: self.rules.by_id, config.feed_titles()),
            policy=send_policy(config),
        )
        self.pipeline = Pipeline(
            fetcher=Fetcher(
                self.http, max_body=polling.max_body, total_timeout=polling.timeout.total_seconds()
            ),
            parser=self.parser,
            store=store,
            rules=self.rules,
            poll_policy=polling.policy(),
            seed_policy=config.first_poll.policy(),
            clock=self.clock,
            on_deliveries=self.sender.wake,
            on_feed_gone=self._feed_gone,
            only_recipient=None if self.telegram else CONSOLE_CHAT,
        )
        self.scheduler: FeedScheduler | None = None
        self.started_at = self.clock()

    @classmethod
    async def create(cls, config: Config, options: Options | None = None) -> App:
        store = await Store.open(config.database_url())
        try:
            return cls(config, store, options or Options())
        except BaseException:
            await store.close()
            raise

    def _feed_gone(self, spec: FeedSpec, reason: str) -> None:
        asyncio.get_running_loop().create_task(
            self.messenger.notify_admins(f"Feed {spec.name} ({spec.url}) is disabled: {reason}")
        )

    async def _sync_feeds(self) -> None:
        self.states = await self.store.sync_feeds(self.specs.values(), self.clock())

    async def poll(self, name: str) -> PollResult:
        """Poll one configured feed now."""
        if name not in self.states:  # not started yet: the stored states are not loaded
            await self._sync_feeds()
        result = await self.pipeline.poll(self.specs[name], self.states[name])
        self.states[name] = result.state
        return result

    async def _scheduled_poll(self, name: str) -> datetime | None:
        if name not in self.specs:
            return None
        return (await self.poll(name)).state.next_poll_at

    async def run_once(self) -> list[PollResult]:
        """Poll every enabled feed once (bounded concurrency), deliver, and return."""
        if self.telegram is not None:
            await self.telegram.start(receive_updates=False)
        await self._sync_feeds()
        slots = asyncio.Semaphore(self.config.polling.concurrency)

        async def bounded(name: str) -> PollResult:
            async with slots:
                return await self.poll(name)

        names = [n for n, state in self.states.items() if not state.disabled]
        results = list(await asyncio.gather(*(bounded(n) for n in names)))
        await self.pipeline.flush()
        await self.sender.drain(self.options.drain_budget)
        return results

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down cleanly: no poll or send is cut short
        unless it overruns its grace period, and whatever is queued stays in the database."""
        if self.telegram is not None:
            await self.telegram.start(receive_updates=True)
        await self._sync_feeds()
        self.scheduler = FeedScheduler(
            self._scheduled_poll, concurrency=self.config.polling.concurrency
        )
        now = self.clock()
        rng = random.Random()
        for name, state in self.states.items():
            if state.disabled:
                log.warning("feed %s is disabled (%s); not polling it", name, state.last_error)
                continue
            # Due feeds start within a few seconds, spread out rather than all at once.
            when = state.next_poll_at or now
            self.scheduler.schedule(name, max(when, now + timedelta(seconds=rng.uniform(0, 3))))
        self.scheduler.every("prune", timedelta(hours=6), self._prune)
        self.scheduler.every("rules-watch", timedelta(seconds=1), self._watch_rules)
        self.scheduler.every("feeds-watchdog", timedelta(seconds=30), self._replan_lost_feeds)
        self.scheduler.every("feed-states", self.pipeline.flush_after, self.pipeline.flush)
        self.scheduler.start()
        log.info(
            "running: %d feeds, %d rules, delivering to %s",
            len(self.specs),
            len(self.rules.rules),
            "Telegram" if self.telegram else "the console (no TELEGRAM_BOT_TOKEN set)",
        )
        sender = asyncio.create_task(self.sender.run(stop))
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            await self.scheduler.shutdown()
            await sender

    async def status_report(self) -> str:
        """What an admin's /status shows: feeds, rules, queue, uptime."""
        rows = health.feed_health(list(self.specs.values()), self.states, self.clock())
        counts = health.summary(rows)
        deliveries = await self.store.delivery_counts()
        uptime = health.ago(self.started_at, self.clock()).removesuffix(" ago")
        lines = [
            f"Feeds: {len(rows)} ({counts['ok']} ok, {counts['failing']} failing, "
            f"{counts['disabled']} disabled, {counts['new']} not polled yet)",
            f"Rules: {len(self.rules.rules)} in force"
            + (
                f"; last reload refused: {self.rules_error.splitlines()[0]}"
                if self.rules_error
                else ""
            ),
            f"Queue: {deliveries.get('pending', 0)} pending, "
            f"{deliveries.get('digest', 0)} waiting for a digest or the end of quiet hours, "
            f"{deliveries.get('held', 0)} held for unreachable chats, "
            f"{deliveries.get('parked', 0)} parked, {deliveries.get('sent', 0)} sent",
            f"Uptime: {uptime}",
        ]
        failing = [r for r in rows if r.status in ("failing", "disabled")]
        lines.extend(f"⚠ {r.name}: {r.status}, {r.details}" for r in failing[:10])
        return "\n".join(lines)

    async def feeds_report(self) -> str:
        """What an admin's /feeds shows: the health table."""
        rows = health.feed_health(list(self.specs.values()), self.states, self.clock())
        return "\n".join(health.health_table(rows))

    async def _replan_lost_feeds(self) -> None:
        """Every enabled feed must have a poll planned or under way; replan any that lost it
        (a defence in depth: a feed silently no longer polled is the worst failure here)."""
        scheduler = self.scheduler
        if scheduler is None:
            return
        planned = scheduler.planned()
        now = self.clock()
        for name, state in self.states.items():
            if state.disabled or name in planned or scheduler.is_polling(name):
                continue
            log.error("feed %s had no poll planned; replanning it", name)
            scheduler.schedule(name, max(state.next_poll_at or now, now))

    async def _watch_rules(self) -> None:
        """Reload when the rule files changed and then stayed the same for one check: an
        editor may still be writing a file when the change is first seen, and half a file
        must not be reported to the admins as an invalid edit."""
        seen = rules_fingerprint(self.config.rules_path)
        if seen == self._rules_fingerprint:
            self._changing_rules = None
        elif seen == self._changing_rules:
            self._changing_rules = None
            await self.reload_rules()
        else:
            self._changing_rules = seen

    async def reload_rules(self) -> str:
        """Load the rules directory again. A valid set replaces the rules in force from the
        next poll on; an invalid one is refused (the last good rules keep running) and the
        admins are told why. Returns a one-line report."""
        self._rules_fingerprint = rules_fingerprint(self.config.rules_path)
        try:
            book = load_rules(self.config.rules_path, self.feed_tags).book(self.feed_tags)
        except ConfigError as exc:
            report = str(exc)
            # Recorded before anyone is told, so that /status agrees with the notice.
            new_error, self.rules_error = report != self.rules_error, report
            if new_error:
                log.error("rules not reloaded, the previous rules stay in force:\n%s", report)
                await self.messenger.notify_admins(
                    f"Rule change refused; the previous rules stay in force.\n{report}"
                )
            return f"Rules not reloaded: {len(exc.problems)} problem(s).\n{report}"
        self.rules = book
        self.pipeline.rules = book
        self.rules_error = None
        log.info("rules reloaded: %d rules", len(book.rules))
        return f"Rules reloaded: {len(book.rules)} rules in force."

    async def _prune(self) -> None:
        storage = self.config.storage
        stories, deliveries = await self.store.prune(
            self.clock(), storage.story_retention, storage.delivery_retention
        )
        if stories or deliveries:
            log.info("pruned %d old stories and %d old deliveries", stories, deliveries)

    async def close(self) -> None:
        if self.telegram is not None:
            await self.telegram.stop()
        await self.http.aclose()
        self.parser.close()
        await self.pipeline.flush()
        await self.store.close()


async def fetch_stories(url: str, config: Config) -> list[Story]:
    """The stories of the feed at ``url``, fetched as the bot would fetch it."""
    polling = config.polling
    async with make_client(
        user_agent=polling.user_agent,
        connect_timeout=polling.connect_timeout.total_seconds(),
        read_timeout=polling.timeout.total_seconds(),
        max_redirects=polling.max_redirects,
        max_connections=1,
    ) as client:
        fetcher = Fetcher(
            client, max_body=polling.max_body, total_timeout=polling.timeout.total_seconds()
        )
        fetched = await fetcher.fetch("cli", url)
    return list(parse_feed("cli", fetched.body, fetched.url, fetched.content_type).stories)


def file_stories(path: Path) -> list[Story]:
    """The stories of a saved feed file, or one story from a text file (first line: the
    title; the rest: the summary)."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read: {exc.strerror}")]) from exc
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


async def feed_health(config: Config) -> list[FeedHealth]:
    """Each configured feed's health, from the database."""
    store = await Store.open(config.database_url())
    try:
        states = await store.feed_states()
    finally:
        await store.close()
    return health.feed_health(config.feed_specs(), states, utc_now())
