"""The combined chaos run of the hostile-world issue, end to end: 20 chats (one with a
10,000-alert backlog), a mixed Telegram fault schedule, 40 slowloris feeds and a 30 s lock on
the SQLite file, while a news feed publishes a matching story every 3 s. It prints what
operators care about (alerts lost, duplicates, the other chats' p95 latency, peak memory) and
holds the bot to: nothing lost, p95 latency under two poll intervals.

The poll interval is 30 s, as long as the lock: the lock alone then costs one interval, and
what piles up during it (a story every 3 s, ten per chat) leaves at Telegram's one message a
second per chat once it ends. With a 20 s interval the same arithmetic puts the stories
published during the lock at 30 s + 10 s of queue and more, over two intervals whatever the
bot does (runs printed p95 39-48 s against 40 s, nothing lost).

About two minutes; marked slow. ``pytest -s tests/test_chaos.py`` prints the figures."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, Options
from bot.config import load_config
from bot.core.models import PollRecord, Story
from tests.builders import delivery
from tests.e2e_support import LOCKER, item, running
from tests.fakes.feed_server import FeedServer, SlowDrip
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram

INTERVAL = 30.0
STORIES = 22
LOCK_AT = 4

BACKLOG_CHAT = 3001
OTHERS = list(range(3002, 3021))
RULES = {"k.yaml": "rules:\n  - {id: karabakh, title: Karabakh, any: [Nagorno-Karabakh]}\n"}


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the 30 s lock is SQLite's
async def test_chaos_loses_nothing_and_keeps_other_chats_prompt(
    write_config: Callable[..., Path],
    feed_server: FeedServer,
    telegram: FakeTelegram,
    db_url: str,
) -> None:
    for chat in [BACKLOG_CHAT, *OTHERS]:
        telegram.add_user(chat)
    news = [item(0, "Quiet day")]
    feed_server.set_feed("/news.xml", rss(news))
    slow = {f"slow{i}": f"/slow{i}.xml" for i in range(40)}
    for path in slow.values():
        feed_server.set_feed(path, rss([item(0, "x")]))
        feed_server.set_behavior(path, SlowDrip(chunk_size=16, interval=0.5))
    feed_lines = f"  - {{name: news, url: '{feed_server.url('/news.xml')}'}}\n" + "".join(
        f"  - {{name: {name}, url: '{feed_server.url(path)}'}}\n" for name, path in slow.items()
    )
    config = write_config(
        f"telegram:\n  token: '{telegram.token}'\n  api_url: {telegram.base_url}\n"
        f"  poll_timeout: 1s\nstorage:\n  url: {db_url}\n  outage_notice: 10s\n"
        f"polling:\n  interval: {INTERVAL:g}s\n  min_interval: {INTERVAL:g}s\n  timeout: 5s\n"
        "  jitter: 0\n  concurrency: 8\n  per_host: 500\n  slow_after: 3s\n"
        "delivery:\n  retry_base: 1s\n  retry_cap: 5s\n  max_attempts: 100\n"
        "  maybe_sent_delay: 10s\n"
        f"feeds:\n{feed_lines}",
        RULES,
    )
    app = await App.create(load_config(config), Options(parse_workers=1))
    try:
        now = datetime.now(UTC)
        for chat in [BACKLOG_CHAT, *OTHERS]:
            await app.store.subscribe(str(chat), "karabakh", now)
        backlog = [
            Story("news", f"b{i}", f"Backlog {i}", f"https://b.invalid/{i}") for i in range(10_000)
        ]
        await app.store.commit_poll(
            PollRecord(
                "news",
                None,
                backlog,
                frozenset(s.key for s in backlog),
                [delivery(s.key, "karabakh", str(BACKLOG_CHAT)) for s in backlog],
            ),
            now,
        )
        telegram.chaos(
            7,
            p_retry_after=0.01,
            retry_after=1,
            p_server_error=0.03,
            p_drop=0.02,
            p_delay=0.02,
            delay=2,
            p_hang=0.01,
            hang=3,
            p_lost=0.01,  # sent, but the answer never comes: the one source of duplicates
        )
        published: dict[str, float] = {}
        path = db_url.split("///", 1)[1]
        async with running(app):
            # Stories come once the news feed is seeded (earlier ones would be its seed) and
            # every slow feed has timed out once (known slow, in its lane).
            for _ in range(300):
                news_state = app.states.get("news")
                if (
                    news_state is not None
                    and news_state.seeded
                    and all((s := app.states.get(n)) and s.consecutive_failures for n in slow)
                ):
                    break
                await asyncio.sleep(0.2)
            locker: subprocess.Popen[str] | None = None
            lock_at = 0.0
            for n in range(1, STORIES + 1):
                title = f"Nagorno-Karabakh update {n}"
                news.append(item(n, title))
                feed_server.set_feed("/news.xml", rss(news))
                published[title] = time.monotonic()
                if n == LOCK_AT:
                    lock_at = time.monotonic()
                    locker = subprocess.Popen(  # noqa: ASYNC220 - starts at once
                        [sys.executable, "-c", LOCKER, path, "30"],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                await asyncio.sleep(3)
            # Every alert gets three intervals after the last story to arrive; one still
            # missing then counts as lost.
            deadline = time.monotonic() + 3 * INTERVAL
            while time.monotonic() < deadline:
                got = {
                    c: {m.plain_text.splitlines()[0] for m in telegram.messages_to(c)}
                    for c in OTHERS
                }
                if all(set(published) <= titles for titles in got.values()):
                    break
                await asyncio.sleep(0.5)
            if locker is not None:
                await asyncio.to_thread(locker.wait, 60)
        telegram.chaos_off()
        latencies = []
        per_story: dict[str, list[float]] = {t: [] for t in published}
        lost = 0
        copies: Counter[tuple[int, str]] = Counter()
        for chat in OTHERS:
            first: dict[str, float] = {}
            for m in telegram.messages_to(chat):
                title = m.plain_text.splitlines()[0]
                copies[(chat, title)] += 1
                first.setdefault(title, m.time)
            for title, at in published.items():
                if title in first:
                    latencies.append(first[title] - at)
                    per_story[title].append(first[title] - at)
                else:
                    lost += 1
        backlog_sent = len(telegram.messages_to(BACKLOG_CHAT))
        for m in telegram.messages_to(BACKLOG_CHAT):
            copies[(BACKLOG_CHAT, m.plain_text.splitlines()[0])] += 1
        messages = sum(copies.values())
        queued = await app.store.pending_count()
        counts = await app.store.delivery_counts()
        duplicates = sum(n - 1 for n in copies.values())
        p95 = statistics.quantiles(latencies, n=20)[-1]
        print(
            f"\nchaos: {len(published)} stories x {len(OTHERS)} chats; alerts lost {lost}; "
            f"duplicates {duplicates} of {messages} messages ({duplicates / messages:.2%}; "
            f"{app.sender.stats.maybe_sent} answers lost); "
            f"latency p50 {statistics.median(latencies):.1f}s "
            f"p95 {p95:.1f}s max {max(latencies):.1f}s (poll interval {INTERVAL:g}s); "
            f"backlog chat: {backlog_sent} received, {queued} still queued; "
            f"parked {counts.get('parked', 0)}; peak RSS of the test process "
            f"{_peak_rss_mb():.0f} MB"
        )
        for title, lats in sorted(per_story.items(), key=lambda kv: -max(kv[1] or [0]))[:8]:
            print(
                f"  {title}: published {published[title] - lock_at:+.1f}s from the lock; "
                f"latency {min(lats or [0]):.1f}-{max(lats or [0]):.1f}s"
            )
        assert lost == 0
        assert p95 < 2 * INTERVAL, p95
        assert counts.get("parked", 0) == 0
        assert backlog_sent + queued >= 10_000, "the backlog is queued, not lost"
    finally:
        await app.close()
