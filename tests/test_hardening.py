"""Regression tests for the hostile-world defects: each names the defect it guards and
fails without its fix. Real parts only: loopback servers, real files, real processes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from telegram import Bot

from bot.app import utc_now
from bot.core.errors import ConfigError, FeedError
from bot.core.htmltext import html_to_text
from bot.core.models import FeedSpec, PollRecord, Story
from bot.feeds.fetch import Fetcher, make_client
from bot.feeds.parse import parse_feed
from bot.logs import RedactSecrets
from bot.scheduler import FeedScheduler
from bot.sender import Sender, SendPolicy
from bot.storage import Store
from bot.telegram.messenger import TelegramMessenger
from bot.yamlfile import load as yaml_load
from tests.builders import delivery
from tests.e2e_support import USER, MakeApp
from tests.fakes.feed_server import FeedServer, Redirect
from tests.fakes.feedgen import Item, rss
from tests.fakes.telegram_api import FakeTelegram

NOW = datetime.now(UTC) - timedelta(seconds=1)
SPEC = FeedSpec("news", "https://a.invalid/feed", timedelta(minutes=10))

BODY = rss([Item(title="One", link="https://example.invalid/1")])


def fetcher(client: httpx.AsyncClient) -> Fetcher:
    return Fetcher(client, max_body=2**20, total_timeout=3)


def client(*, allow_private: bool = False) -> httpx.AsyncClient:
    return make_client(
        user_agent="t",
        connect_timeout=2,
        read_timeout=2,
        max_redirects=3,
        max_connections=2,
        allow_private_redirects=allow_private,
    )


async def test_a_redirect_to_another_loopback_port_is_refused_unless_allowed() -> None:
    with FeedServer() as origin, FeedServer() as internal:
        internal.set_feed("/admin", BODY)
        origin.set_feed("/feed", BODY)
        origin.set_behavior("/feed", Redirect(internal.url("/admin")))
        async with client() as c:
            with pytest.raises(FeedError, match=r"non-public address 127\.0\.0\.1 refused"):
                await fetcher(c).fetch("f", origin.url("/feed"))
        assert internal.hits("/admin") == 0
        async with client(allow_private=True) as c:
            fetched = await fetcher(c).fetch("f", origin.url("/feed"))
        assert fetched.body == BODY and internal.hits("/admin") == 1


async def test_a_redirect_on_the_same_host_and_port_is_followed(feed_server: FeedServer) -> None:
    feed_server.set_feed("/new", BODY)
    feed_server.set_feed("/old", BODY)
    feed_server.set_behavior("/old", Redirect("/new", 301))
    async with client() as c:
        fetched = await fetcher(c).fetch("f", feed_server.url("/old"))
    assert fetched.permanent_url == feed_server.url("/new")


async def test_a_redirect_may_not_leave_http(feed_server: FeedServer) -> None:
    feed_server.set_feed("/feed", BODY)
    feed_server.set_behavior("/feed", Redirect("ftp://127.0.0.1/feed"))
    async with client(allow_private=True) as c:
        with pytest.raises(FeedError, match="from http to ftp refused"):
            await fetcher(c).fetch("f", feed_server.url("/feed"))


async def test_the_sqlite_file_is_created_for_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "newsbot.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


HOSTILE = "\x1b[31mred\x1b[0m \u202eevil\u202c \x00nul\x07 \u2067iso\u2069 שלום\u200f ok"


def test_control_and_bidi_override_characters_never_reach_text_or_logs() -> None:
    text = html_to_text(HOSTILE)
    assert text == "[31mred[0m evil nul iso שלום\u200f ok"  # ESC, RLO, PDF, NUL, BEL gone
    raw = HOSTILE.encode()
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>" + raw + b"</title><link>https://a.invalid/1</link>"
        b"<description>" + raw + b"</description></item></channel></rss>"
    )
    (story,) = parse_feed("f", body, "https://a.invalid/feed").stories
    assert not any(ch in story.title + story.summary for ch in "\x1b\u202e\x00\x07\u2067")
    record = logging.LogRecord("x", logging.WARNING, "f", 1, "title %s", (HOSTILE,), None)
    RedactSecrets().filter(record)
    assert not any(ch in record.getMessage() for ch in "\x1b\u202e\x00\x07\u2067")
    assert "שלום" in record.getMessage()


RULES = {"drones.yaml": "rules:\n  - {id: drones, title: Drones, any: [Bayraktar]}\n"}


def test_run_once_exits_non_zero_when_every_feed_failed(
    write_config: Callable[..., Path], feed_server: FeedServer
) -> None:
    config = write_config(
        "feeds:\n"
        f"  - name: a\n    url: {feed_server.url('/missing-a.xml')}\n"
        f"  - name: b\n    url: {feed_server.url('/missing-b.xml')}\n",
        RULES,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEWSBOT_"))}
    run = [sys.executable, "-m", "bot", "run", "--once", "--config", str(config)]
    failed = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
    assert failed.returncode == 1, failed.stderr
    assert "every feed failed" in failed.stderr
    feed_server.set_feed("/missing-a.xml", BODY)
    partly = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
    assert partly.returncode == 0, partly.stderr


WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from bot.feeds.parse import ParserPool

    async def main():
        pool = ParserPool(2)
        await pool.parse("f", sys.argv[1].encode(), "https://a.invalid/", None)
        print(" ".join(str(p) for p in pool._executor._processes), flush=True)
        time.sleep(120)

    asyncio.run(main())
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its entry is left


@pytest.mark.slow
def test_parser_workers_exit_when_the_bot_is_killed() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, BODY.decode()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        workers = [int(p) for p in process.stdout.readline().split()]
        assert workers and all(_alive(p) for p in workers)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "orphaned parser workers"
    finally:
        if process.poll() is None:
            process.kill()


async def test_a_telegram_502_is_one_log_line_without_traceback_or_html(
    store: Store, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    telegram.add_user(1001)
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    items = [Story("news", "k", "Bayraktar", "https://a.invalid/1")]
    record = PollRecord("news", state, items, frozenset({"k"}), [delivery("k", "r", "1001")])
    await store.commit_poll(record, NOW)
    telegram.fail_next("sendMessage", kind="bad_gateway")
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        policy = SendPolicy(retry_base=0.01, retry_cap=0.01)
        sender = Sender(
            store=store, messenger=TelegramMessenger(bot, []), clock=utc_now, policy=policy
        )
        with caplog.at_level(logging.INFO):
            await sender.send_due()
            await asyncio.sleep(0.05)
            await sender.send_due()
    assert len(telegram.messages_to(1001)) == 1
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    (line,) = failures
    assert line.exc_info is None and "\n" not in line.getMessage()
    assert "<" not in line.getMessage() and "502" in line.getMessage()


async def test_stopping_during_a_slow_poll_logs_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    async def slow_poll(feed: str) -> datetime | None:
        started.set()
        await asyncio.sleep(30)
        return None

    scheduler = FeedScheduler(slow_poll, concurrency=2)
    scheduler.start()
    scheduler.schedule("slow", datetime.now(UTC))
    await asyncio.wait_for(started.wait(), 10)
    with caplog.at_level(logging.INFO):
        await scheduler.shutdown(grace=0.2)
        await asyncio.sleep(0.1)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
    assert any("slow stopped by shutdown" in r.getMessage() for r in caplog.records)


BOMB = "lexicon:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 9)
)
DEEP = "rules:\n  - id: deep\n    title: Deep\n    any: " + "[" * 5000 + "x" + "]" * 5000 + "\n"
DEEP_QUERY = "rules:\n  - id: q\n    title: Q\n    query: '" + "(" * 3000 + "x" + ")" * 3000 + "'\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(BOMB, "bomb.yaml:2:", id="alias-bomb"),
        pytest.param(DEEP, "bomb.yaml:4:", id="deep-nesting"),
        pytest.param(DEEP_QUERY, "bomb.yaml:4:", id="deep-query"),
    ],
)
async def test_hostile_rule_files_are_refused_like_any_invalid_edit(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram, body: str, expected: str
) -> None:
    feed_server.set_feed("/news.xml", BODY)
    app = await make_app()
    await app.telegram.start(receive_updates=False)  # type: ignore[union-attr]
    before = len(app.rules.rules)
    rss_before = _rss_mb()
    (app.config.rules_path / "bomb.yaml").write_text(body, encoding="utf-8")
    started = time.monotonic()
    report = await app.reload_rules()
    assert time.monotonic() - started < 5
    assert _rss_mb() - rss_before < 100, "refused in bounded memory"
    assert report.startswith("Rules not reloaded") and expected in report, report
    assert len(app.rules.rules) == before, "the previous rules stay in force"
    notice = fake.messages_to(USER)[-1].plain_text
    assert "Rule change refused" in notice and expected in notice
    assert expected in await app.status_report()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_rule_file_too_large_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * (9 * 2**20))
    with pytest.raises(ConfigError, match=r"huge\.yaml: file of 9,437,186 bytes is larger"):
        yaml_load(path)
