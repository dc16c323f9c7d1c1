"""Nothing lost, nothing doubled: the bot under a crash, a misbehaving Bot API and hostile feeds.

- A real `newsbot run` process is killed with SIGKILL in the middle of a burst of deliveries and
  started again: every alert arrives, and only what was in flight at the kill may arrive twice.
- The fake Bot API answers a random mix of 429, 500, dropped connections and time-outs over
  hundreds of alerts to many chats: every alert arrives exactly once and no flood limit is
  broken (the fake counts violations of the per-chat, per-group and global limits).
- Slow, huge, gzip-bomb, redirect-loop, 410 and garbage feeds beside good ones: the good ones are
  polled on time, each bad one is recorded with its error and backed off.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import App, Options
from bot.config import load_config
from tests.fakes.feed_server import (
    Delay,
    FeedServer,
    Garbage,
    GzipBomb,
    HugeBody,
    Redirect,
    SlowDrip,
    Status,
)
from tests.fakes.feedgen import Item, rss
from tests.fakes.telegram_api import FakeTelegram

ADMIN = 999


def item(n: int, title: str) -> Item:
    return Item(
        title=title,
        link=f"https://news.invalid/{n}",
        guid=f"s{n}",
        published=datetime(2026, 11, 24, 9, n % 60, tzinfo=UTC),
    )


def deliveries(fake: FakeTelegram, chats: list[int]) -> Counter[tuple[int, str]]:
    """(chat, story title) -> how many times it arrived."""
    counts: Counter[tuple[int, str]] = Counter()
    for chat in chats:
        for message in fake.messages_to(chat):
            counts[chat, message.plain_text.splitlines()[0]] += 1
    return counts


def _config(
    write_config: Callable[..., Path],
    fake: FakeTelegram,
    feed_url: str,
    chats: list[int],
    extra: str = "",
) -> Path:
    notify = ", ".join(f"'{c}'" for c in chats)
    return write_config(
        f"""
        telegram:
          token: ${{TELEGRAM_BOT_TOKEN}}
          api_url: {fake.base_url}
          poll_timeout: 1s
          request_timeout: 1s
          admins: [{ADMIN}]
        polling:
          interval: 1s
          min_interval: 1s
          jitter: 0
          timeout: 2s
        {extra}
        feeds:
          - name: news
            url: {feed_url}
        """,
        {
            "r.yaml": f"rules:\n  - id: r\n    title: Alerts\n    any: [Bayraktar]\n"
            f"    notify: [{notify}]\n"
        },
    )


def test_sigkill_mid_burst_loses_nothing_and_doubles_at_most_the_in_flight_one(
    write_config: Callable[..., Path], feed_server: FeedServer, telegram: FakeTelegram
) -> None:
    chats = list(range(5001, 5041))  # 40 people
    for chat in chats:
        telegram.add_user(chat)
    telegram.add_user(ADMIN)
    stories = [item(0, "Old news")]
    feed_server.set_feed("/news.xml", rss(stories))
    config = _config(
        write_config,
        telegram,
        feed_server.url("/news.xml"),
        chats,
        "delivery:\n          lease: 2s\n          concurrency: 1\n",
    )
    # Every send takes a while, so that the burst is still under way when the bot is killed.
    telegram.chaos(1, p_delay=1.0, delay=0.04)
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": telegram.token}

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )

    first = start()
    try:
        telegram.wait_for(lambda: feed_server.hits("/news.xml") >= 1, timeout=20)
        time.sleep(0.5)  # the first poll records the old story
        stories += [item(n, f"Bayraktar story {n}") for n in (1, 2, 3)]
        feed_server.set_feed("/news.xml", rss(stories))
        telegram.wait_for(lambda: len(telegram.sent) >= 40, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = len(telegram.sent)
    finally:
        if first.poll() is None:
            first.kill()
    assert at_kill < 120, "the burst must still be under way when the bot is killed"

    second = start()
    restarted = time.monotonic()
    try:
        # The dead process's Telegram lease (15 s by default) must run out first.
        telegram.wait_for(lambda: len(telegram.sent) > at_kill, timeout=40)
        resumed = time.monotonic() - restarted
        telegram.wait_for(lambda: len(deliveries(telegram, chats)) >= 120, timeout=60)
        time.sleep(2.5)  # anything sent twice would show up by now (lease 2 s)
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = second.communicate(timeout=30)
    got = deliveries(telegram, chats)
    assert len(got) == 120, "every alert was delivered"
    doubled = [key for key, n in got.items() if n > 1]
    print(
        f"\nSIGKILL after {at_kill} of 120 alerts: sending resumed {resumed:.1f} s after the "
        f"restart; {len(doubled)} delivered twice: {doubled}"
    )
    assert resumed < 15 + 5, "within the leader lease (15 s) and the start-up"
    assert len(doubled) <= 1, f"only the in-flight alert may be doubled: {doubled}"
    assert all(n <= 2 for n in got.values())
    assert second.returncode == 0, output


async def test_chaos_at_the_bot_api_every_alert_exactly_once_within_limits(
    write_config: Callable[..., Path], feed_server: FeedServer, telegram: FakeTelegram
) -> None:
    users = list(range(7001, 7041))  # 40 people
    groups = [-100700 - i for i in range(5)]  # and 5 groups
    for user in users:
        telegram.add_user(user)
    for group in groups:
        telegram.add_group(group, f"Group {group}", supergroup=True)
    telegram.add_user(ADMIN)
    stories = [item(0, "Old")]
    feed_server.set_feed("/news.xml", rss(stories))
    config = _config(
        write_config,
        telegram,
        feed_server.url("/news.xml"),
        users + groups,
        "delivery:\n          retry_base: 0.2s\n          retry_cap: 1s\n"
        "          max_attempts: 30\n          lease: 10s\n"
        # the fake's dropped connections are lost answers: resent after a second here
        "          maybe_sent_delay: 1s\n",
    )
    app = await App.create(
        load_config(config, env={"TELEGRAM_BOT_TOKEN": telegram.token}), Options(parse_workers=0)
    )
    try:
        await app.run_once()  # seeds
        stories += [item(n, f"Bayraktar story {n}") for n in range(1, 8)]
        feed_server.set_feed("/news.xml", rss(stories))
        telegram.chaos(
            7,
            p_retry_after=0.02,
            retry_after=1,
            p_server_error=0.05,
            p_drop=0.05,
            p_hang=0.02,
            hang=1.5,
        )
        started = time.monotonic()
        stop = asyncio.Event()
        runner = asyncio.create_task(app.run(stop))
        expected = 7 * (len(users) + len(groups))  # 315 alerts
        await telegram.wait_for_async(
            lambda: len(deliveries(telegram, users + groups)) >= expected, timeout=120
        )
        elapsed = time.monotonic() - started
        await asyncio.sleep(1.5)
        stop.set()
        await runner
    finally:
        await app.close()
    got = deliveries(telegram, users + groups)
    faults = Counter(r.status for r in telegram.requests if r.method == "sendMessage")
    print(
        f"\nchaos: {expected} alerts in {elapsed:.1f}s; sendMessage answers {dict(faults)}; "
        f"limit violations {telegram.limit_violations()}; stats {app.sender.stats}"
    )
    assert len(got) == expected, "every alert delivered"
    assert set(got.values()) == {1}, "exactly once"
    assert faults[429] >= 1 and faults[500] >= 1 and faults[0] >= 1, "all fault kinds occurred"
    assert telegram.limit_violations() == {"per_chat": 0, "per_group": 0, "global": 0}


async def test_hostile_feeds_beside_good_ones(
    write_config: Callable[..., Path],
    feed_server: FeedServer,
    telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram.add_user(ADMIN)
    good = rss([item(1, "Fine")])
    bad = {
        "slow": Delay(10),
        "drip": SlowDrip(chunk_size=16, interval=0.5),
        "huge": HugeBody(megabytes=20),
        "bomb": GzipBomb(megabytes=200),
        "loop": Redirect("/loop.xml"),
        "gone": Status(410),
        "garbage": Garbage(size=3000),
        "busy": Status(503, headers={"Retry-After": "120"}),
    }
    feed_server.set_feed("/good.xml", good)
    feed_server.set_feed("/good2.xml", good)
    for name, behavior in bad.items():
        feed_server.set_feed(f"/{name}.xml", good)
        feed_server.set_behavior(f"/{name}.xml", behavior)
    feeds = "".join(
        f"  - name: {n}\n    url: {feed_server.url(f'/{n}.xml')}\n" for n in ["good", "good2", *bad]
    )
    config = write_config(
        f"telegram:\n  token: '{telegram.token}'\n  api_url: {telegram.base_url}\n"
        f"  poll_timeout: 1s\n  admins: [{ADMIN}]\n"
        "polling:\n  interval: 1s\n  min_interval: 1s\n  jitter: 0\n  timeout: 1.5s\n"
        "  max_body: 2MB\n  max_redirects: 3\n"
        f"feeds:\n{feeds}",
        {"r.yaml": "rules:\n  - {id: r, title: R, any: [x]}\n"},
    )
    app = await App.create(load_config(config), Options(parse_workers=1))
    stop = asyncio.Event()
    try:
        runner = asyncio.create_task(app.run(stop))
        await asyncio.sleep(8)
        stop.set()
        await runner
        states = await app.store.feed_states()
    finally:
        await app.close()
    errors = {name: states[name].last_error or "" for name in bad}
    print(
        "\nhostile feeds:", {n: (s.consecutive_failures, s.last_error) for n, s in states.items()}
    )
    for name in ("good", "good2"):
        assert states[name].consecutive_failures == 0
        # Polled about every second for 8 s, whatever the others did.
        assert feed_server.hits(f"/{name}.xml") >= 5, name
    assert "timed out" in errors["slow"]
    assert "timed out" in errors["drip"]
    assert "byte limit" in errors["huge"]
    assert "byte limit" in errors["bomb"]
    assert "too many redirects" in errors["loop"]
    assert "410" in errors["gone"] and states["gone"].disabled
    assert feed_server.hits("/gone.xml") == 1, "a gone feed is not polled again"
    assert "not a feed" in errors["garbage"]
    assert "HTTP 503" in errors["busy"]
    busy = states["busy"]
    assert busy.next_poll_at is not None and busy.last_polled_at is not None
    assert busy.next_poll_at - busy.last_polled_at >= timedelta(seconds=119), "Retry-After"
    assert feed_server.hits("/busy.xml") == 1
    for name in ("slow", "huge", "bomb", "loop", "garbage"):
        state = states[name]
        assert state.next_poll_at is not None and state.last_polled_at is not None
        gap = (state.next_poll_at - state.last_polled_at).total_seconds()
        # Exponential backoff: 1 s, 2 s, 4 s... after the 1st, 2nd, 3rd failure in a row.
        assert gap >= 2 ** (state.consecutive_failures - 1) * 0.99, (name, gap)
        assert state.consecutive_failures < feed_server.hits("/good.xml"), name
    notices = [m.plain_text for m in telegram.messages_to(ADMIN)]
    assert any("gone" in n and "disabled" in n for n in notices), notices


async def test_a_permanent_redirect_is_followed_and_remembered_across_restarts(
    write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    feed_server.set_feed("/new.xml", rss([item(1, "Moved")]))
    feed_server.set_feed("/old.xml", rss([item(1, "Moved")]))
    feed_server.set_behavior("/old.xml", Redirect("/new.xml", code=301))
    config = write_config(
        f"feeds:\n  - name: news\n    url: {feed_server.url('/old.xml')}\n",
        {"r.yaml": "rules:\n  - {id: r, title: R, any: [x]}\n"},
    )
    app = await App.create(load_config(config, env={}), Options(parse_workers=0))
    try:
        await app.run_once()
    finally:
        await app.close()
    again = await App.create(load_config(config, env={}), Options(parse_workers=0))
    try:
        (state,) = (await again.store.feed_states()).values()
        assert state.moved_url == feed_server.url("/new.xml")
        await again.run_once()
    finally:
        await again.close()
    assert feed_server.hits("/old.xml") == 1, "after the move, the old URL is not asked again"
    assert feed_server.responses("/new.xml") == [200, 304]


async def test_the_feeds_ttl_and_cache_control_stretch_the_interval(
    write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    feed_server.set_feed("/ttl.xml", rss([item(1, "x")], ttl=90))
    feed_server.set_feed("/cc.xml", rss([item(1, "x")]), headers={"Cache-Control": "max-age=7200"})
    feed_server.set_feed("/plain.xml", rss([item(1, "x")]))
    feeds = "".join(
        f"  - name: {n}\n    url: {feed_server.url(f'/{n}.xml')}\n" for n in ("ttl", "cc", "plain")
    )
    config = write_config(
        f"polling:\n  interval: 5m\n  jitter: 0\nfeeds:\n{feeds}",
        {"r.yaml": "rules:\n  - {id: r, title: R, any: [x]}\n"},
    )
    app = await App.create(load_config(config, env={}), Options(parse_workers=0))
    try:
        results = {r.feed: r.state for r in await app.run_once()}
    finally:
        await app.close()

    def gap(name: str) -> timedelta:
        state = results[name]
        assert state.next_poll_at is not None and state.last_polled_at is not None
        return state.next_poll_at - state.last_polled_at

    # Counted from the poll's end (last_polled_at is its start): a poll's length later.
    def about(actual: timedelta, expected: timedelta) -> bool:
        return expected <= actual < expected + timedelta(seconds=2)

    assert about(gap("plain"), timedelta(minutes=5))
    assert about(gap("ttl"), timedelta(minutes=90)), "RSS <ttl> in minutes"
    assert about(gap("cc"), timedelta(hours=2)), "Cache-Control max-age"


def test_newsbot_feeds_shows_health_and_fails_when_a_feed_fails(
    write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    from tests.test_cli import newsbot

    feed_server.set_feed("/good.xml", rss([item(1, "x")]))
    feed_server.set_feed("/bad.xml", rss([item(1, "x")]))
    feed_server.set_behavior("/bad.xml", Status(500))
    config = write_config(
        f"feeds:\n  - name: good\n    url: {feed_server.url('/good.xml')}\n"
        f"  - name: bad\n    url: {feed_server.url('/bad.xml')}\n"
        f"  - name: later\n    url: {feed_server.url('/later.xml')}\n",
        {"r.yaml": "rules:\n  - {id: r, title: R, any: [x]}\n"},
    )
    before = newsbot("feeds", "--config", str(config))
    assert before.returncode == 0 and before.stdout.count(" new ") == 3, before.stdout
    feed_server.set_feed("/later.xml", rss([item(1, "x")]))
    assert newsbot("run", "--once", "--config", str(config)).returncode == 0
    after = newsbot("feeds", "--config", str(config))
    assert after.returncode == 1, "a failing feed makes the command fail (for monitoring)"
    lines = {line.split()[0]: line for line in after.stdout.splitlines()[1:]}
    assert " ok " in lines["good"] and "ago" in lines["good"]
    assert " failing " in lines["bad"] and "HTTP 500" in lines["bad"]
    assert " ok " in lines["later"]
