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
from telegram.request import HTTPXRequest

from bot.app import utc_now
from bot.core.errors import ConfigError, FeedError, StorageError
from bot.core.htmltext import html_to_text
from bot.core.models import FeedSpec, PollRecord, Story
from bot.feeds.fetch import Fetcher, make_client
from bot.feeds.parse import parse_feed
from bot.lanes import Lanes
from bot.logs import RedactSecrets
from bot.scheduler import FeedScheduler
from bot.sender import Sender, SendPolicy
from bot.storage import Store
from bot.telegram.messenger import TelegramMessenger
from bot.yamlfile import load as yaml_load
from tests.builders import delivery
from tests.e2e_support import LOCKER, OTHER_USER, USER, MakeApp, alerts_to, item, running
from tests.fakes.feed_server import FeedServer, Redirect, SlowDrip
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


async def test_one_chats_backlog_does_not_delay_another_chats_alert(
    store: Store, telegram: FakeTelegram
) -> None:
    telegram.add_user(1001)
    telegram.add_user(1002)
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    backlog = [
        Story("news", f"b{i}", f"Backlog {i}", f"https://a.invalid/b{i}") for i in range(3000)
    ]
    deliveries = [delivery(s.key, "r", "1001") for s in backlog]
    await store.commit_poll(
        PollRecord("news", state, backlog, frozenset(s.key for s in backlog), deliveries), NOW
    )
    late = Story("news", "late", "Other chat's news", "https://a.invalid/late")
    await store.commit_poll(
        PollRecord("news", None, [late], frozenset({"late"}), [delivery("late", "r", "1002")]),
        NOW + timedelta(milliseconds=1),
    )
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        sender = Sender(store=store, messenger=TelegramMessenger(bot, []), clock=utc_now)
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop, idle=0.05))
        started = time.monotonic()
        try:
            await telegram.wait_for_async(lambda: len(telegram.messages_to(1002)) == 1, 10)
        finally:
            stop.set()
            await task
    assert time.monotonic() - started < 3, "the other chat waited behind the backlog"
    assert len(telegram.messages_to(1001)) <= 10, "the backlog is paced at about 1/s"


@pytest.mark.slow
async def test_a_feed_bursting_with_matches_sends_a_few_alerts_and_one_digest(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    feed_server.set_feed("/big.xml", rss([item(0, "Quiet")]))
    feed_server.set_feed("/news.xml", rss([item(0, "Quiet")]))
    # A cap of 5 (the default is 20) keeps the paced singles short: the cap is the point.
    app = await make_app(
        feeds={"big": "/big.xml", "news": "/news.xml"}, extra="delivery:\n  burst: 5\n"
    )
    await app.store.subscribe(str(OTHER_USER), "karabakh", datetime.now(UTC))
    await app.store.subscribe(str(USER), "drones", datetime.now(UTC))
    assert {r.outcome for r in await app.run_once()} == {"seeded"}
    burst = [item(n, f"Bayraktar sighting {n}") for n in range(1, 1501)]
    feed_server.set_feed("/big.xml", rss(burst))
    async with running(app):
        await asyncio.sleep(0.3)  # the big poll is under way...
        feed_server.set_feed("/news.xml", rss([item(9, "Nagorno-Karabakh talks resume")]))
        started = time.monotonic()
        # ...and the other feed's alert to another chat is not held up by it
        await fake.wait_for_async(lambda: len(alerts_to(fake, OTHER_USER)) == 1, 20)
        other_latency = time.monotonic() - started
        await fake.wait_for_async(lambda: len(alerts_to(fake, USER)) >= 6, 60)
        await asyncio.sleep(1.5)
    texts = alerts_to(fake, USER)
    singles = [t for t in texts if t.startswith("Bayraktar sighting")]
    digests = [t for t in texts if t.startswith("📰 Digest")]
    (digest,) = digests
    assert len(singles) == 5, len(singles)
    assert digest.startswith("📰 Digest: 1,495 stories")
    assert "… and 1,455 more stories" in digest
    assert other_latency < 10, other_latency
    counts = await app.store.delivery_counts()
    assert sum(counts.values()) == 3 * 1500 + 1, counts  # user, channel, group; the other
    assert counts.get("parked", 0) == 0


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # not about storage: one backend
async def test_slow_feeds_cannot_delay_the_others(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram
) -> None:
    slow = {f"slow{i}": f"/slow{i}.xml" for i in range(40)}
    for path in slow.values():
        feed_server.set_feed(path, rss([item(0, "x")]))
        feed_server.set_behavior(path, SlowDrip(chunk_size=16, interval=0.5))
    stories = [item(0, "Quiet")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app(
        feeds={"news": "/news.xml", **slow},
        polling="  concurrency: 8\n  per_host: 500\n  slow_after: 1s\n",
    )
    await app.store.subscribe(str(USER), "karabakh", datetime.now(UTC))
    latencies = []
    async with running(app):
        # Steady state: every slow feed has timed out once (a feed is known slow after that).
        for _ in range(300):
            if all((s := app.states.get(n)) and s.consecutive_failures for n in slow):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the slow feeds were not all polled in 30 s")
        for n in range(1, 4):
            stories.append(item(n, f"Nagorno-Karabakh update {n}"))
            feed_server.set_feed("/news.xml", rss(stories))
            started = time.monotonic()
            await fake.wait_for_async(lambda n=n: len(alerts_to(fake, USER)) == n, 30)  # type: ignore[misc]
            latencies.append(time.monotonic() - started)
    assert max(latencies) < 3, latencies  # two poll intervals of 1 s, plus the send
    states = await app.store.feed_states()
    assert all("timed out" in (states[name].last_error or "") for name in slow)


async def test_lanes_bound_polls_per_host_and_keep_slow_feeds_in_their_lane() -> None:
    hosts = {"a1": "a", "a2": "a", "a3": "a", "a4": "a", "b1": "b", "s1": "c", "s2": "d"}
    lanes = Lanes(host_of=hosts.__getitem__, per_host=2, slow_slots=1, slow_after=1.0)
    lanes.took("s1", 5.0)
    lanes.took("s2", 5.0)
    running: dict[str, int] = {}
    peak: dict[str, int] = {}
    order: list[str] = []

    async def poll(feed: str, group: str) -> None:
        async with lanes.enter(feed):
            running[group] = running.get(group, 0) + 1
            peak[group] = max(peak.get(group, 0), running[group])
            order.append(feed)
            await asyncio.sleep(0.05)
            running[group] -= 1

    await asyncio.gather(
        *(poll(f, "a") for f in ("a1", "a2", "a3", "a4")),
        poll("b1", "b"),
        poll("s1", "slow"),
        poll("s2", "slow"),
    )
    assert peak == {"a": 2, "b": 1, "slow": 1}
    assert order.index("b1") < order.index("a3"), "another host does not wait for host a"
    lanes.took("s1", 0.1)
    assert lanes.slow == {"s2"}, "a quick poll takes a feed out of the slow lane"
    assert lanes._hosts == {}, "hosts no longer in use are forgotten"


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # not about storage: one backend
async def test_command_floods_and_429s_cost_no_replies_and_no_tracebacks(
    make_app: MakeApp,
    feed_server: FeedServer,
    fake: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed_server.set_feed("/news.xml", BODY)
    people = list(range(2001, 2021))
    for person in people:
        fake.add_user(person)
    app = await make_app()
    with caplog.at_level(logging.INFO):
        async with running(app):
            fake.fail_next("sendMessage", chat_id=people[0], kind=("retry_after", 1))
            for _ in range(300):
                fake.user_sends(USER, "/help")
            started = time.monotonic()
            for person in people:
                for command in ("/help", "/mine", "/settings"):
                    fake.user_sends(person, command)
            await fake.wait_for_async(
                lambda: all(len(fake.messages_to(p)) == 3 for p in people), 20
            )
            others = time.monotonic() - started
            await asyncio.sleep(1)
            assert others < 8, others  # 60 replies at Telegram's 30 a second, and one 429
            # the flood: answered at one a second until the budget ran out, then one warning
            # decided on arrival: 20 answered (paced at one a second), one warning, the rest
            # dropped; wait for all 21, then a little more to see that nothing else comes
            await fake.wait_for_async(lambda: len(alerts_to(fake, USER)) >= 21, 60)
            await asyncio.sleep(2)
    flood = alerts_to(fake, USER)
    assert sum("a lot of commands" in t for t in flood) == 1
    assert len(flood) == 21, len(flood)
    assert not any(v for v in fake.limit_violations().values()), fake.limit_violations()
    assert [m.plain_text.split()[0] for m in fake.messages_to(people[1])][:1] == ["Commands"]
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert tracebacks == []


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # not about storage: one backend
async def test_a_slow_answer_is_waited_for_and_a_lost_one_resent_only_later(
    store: Store, telegram: FakeTelegram
) -> None:
    telegram.add_user(1001)
    state = (await store.sync_feeds([SPEC], NOW))["news"]

    async def story(n: int) -> None:
        items = [Story("news", f"k{n}", f"Story {n}", f"https://a.invalid/{n}")]
        record = PollRecord(
            "news", state, items, frozenset({f"k{n}"}), [delivery(f"k{n}", "r", "1001")]
        )
        await store.commit_poll(record, NOW)

    await story(0)
    request = HTTPXRequest(read_timeout=1.0, connect_timeout=1.0)  # other calls give up at 1 s
    async with Bot(telegram.token, base_url=telegram.base_url, request=request) as bot:
        messenger = TelegramMessenger(bot, [], send_timeout=3.0)
        policy = SendPolicy(retry_base=0.05, retry_cap=0.1, maybe_sent_delay=2.0)
        sender = Sender(store=store, messenger=messenger, clock=utc_now, policy=policy)
        # Story 0: answered after 2 s, past the 1 s of other calls but within the send time.
        telegram.fail_next("sendMessage", chat_id=1001, kind=("delay", 2))
        await sender.send_due()
        assert [m.plain_text.splitlines()[0] for m in telegram.messages_to(1001)] == ["Story 0"]
        assert sender.stats.maybe_sent == 0
        # Story 1: answered after 4 s, past the send time: maybe sent, resent 2 s later.
        await story(1)
        telegram.fail_next("sendMessage", chat_id=1001, kind=("delay", 4))
        lost_at = time.monotonic()
        await sender.send_due()
        assert sender.stats.maybe_sent == 1
        while (await store.delivery_counts()).get("sent", 0) < 2:
            await sender.send_due()
            await asyncio.sleep(0.1)
        assert time.monotonic() - lost_at >= 3 + 2 - 0.2
    titles = [m.plain_text.splitlines()[0] for m in telegram.messages_to(1001)]
    # The lost answer's message had reached Telegram: the one duplicate the guarantee allows.
    assert titles == ["Story 0", "Story 1", "Story 1"]


class _RefusingOutcomes:
    """The real store, except that recording what a send did fails while ``down`` is set, as a
    database outage between a send and its record makes it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.down = False

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._store, name)
        if name in {"mark_many_sent", "retry_later"}:

            async def refused(*args: object, **kwargs: object) -> object:
                if self.down:
                    raise StorageError("database error: database is locked")
                return await attr(*args, **kwargs)

            return refused
        return attr


async def test_a_sent_alert_whose_record_failed_is_recorded_later_not_sent_again(
    store: Store, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect: a send that Telegram took while the database refused its record stayed leased,
    its task's error was never retrieved, and the alert went out again when the lease ran out."""
    telegram.add_user(1001)
    telegram.add_user(1002)
    state = (await store.sync_feeds([SPEC], NOW))["news"]
    items = [Story("news", f"k{n}", f"Story {n}", f"https://a.invalid/{n}") for n in range(2)]
    record = PollRecord(
        "news",
        state,
        items,
        frozenset(s.key for s in items),
        [delivery(s.key, "r", chat) for s in items for chat in ("1001", "1002")],
    )
    await store.commit_poll(record, NOW)
    flaky = _RefusingOutcomes(store)
    clock = [utc_now()]
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        sender = Sender(
            store=flaky,  # type: ignore[arg-type]
            messenger=TelegramMessenger(bot, []),
            clock=lambda: clock[0],
            policy=SendPolicy(lease=timedelta(seconds=30)),
        )
        flaky.down = True
        telegram.fail_next("sendMessage", chat_id=1002, kind="server_error")
        await sender.send_due()
        assert len(telegram.messages_to(1001)) == 2
        assert sender.owed >= 3  # sent ones and a retry, none written
        with pytest.raises(StorageError):  # nothing new is claimed before they are written
            await sender.send_due()
        flaky.down = False
        clock[0] += timedelta(seconds=31)  # past the lease
        while (await store.delivery_counts()).get("sent", 0) < 4:
            await sender.send_due()
            clock[0] += timedelta(seconds=2)
    assert sender.owed == 0
    titles = sorted(m.plain_text.splitlines()[0] for m in telegram.messages_to(1001))
    assert titles == ["Story 0", "Story 1"]  # each once
    assert sorted(m.plain_text.splitlines()[0] for m in telegram.messages_to(1002)) == titles
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the lock is SQLite's
async def test_a_locked_database_delays_polling_by_seconds_and_the_admins_are_told(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram, db_url: str
) -> None:
    stories = [item(0, "Quiet")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app(storage="  outage_notice: 2s\n")
    await app.store.subscribe(str(OTHER_USER), "karabakh", datetime.now(UTC))
    path = db_url.split("///", 1)[1]
    async with running(app):
        for _ in range(200):
            if (s := app.states.get("news")) and s.seeded:
                break
            await asyncio.sleep(0.05)
        locker = subprocess.Popen(  # noqa: ASYNC220 - a short start, then awaited in a thread
            [sys.executable, "-c", LOCKER, path, "25"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            stories.append(item(1, "Nagorno-Karabakh: talks resume"))
            feed_server.set_feed("/news.xml", rss(stories))
            await fake.wait_for_async(
                lambda: any("has not answered" in t for t in alerts_to(fake, USER)), 40
            )
            assert "Database unavailable" in await app.status_report()
            assert "Database unavailable" in await app.feeds_report()
            await asyncio.to_thread(locker.wait, 40)
            unlocked = time.monotonic()
        finally:
            if locker.poll() is None:
                locker.kill()
        await fake.wait_for_async(lambda: len(alerts_to(fake, OTHER_USER)) == 1, 30)
        recovery = time.monotonic() - unlocked
        await fake.wait_for_async(
            lambda: any("answers again" in t for t in alerts_to(fake, USER)), 10
        )
        assert "Database unavailable" not in await app.status_report()
    assert recovery < 15, recovery  # seconds, not the five minutes it used to be
    assert "talks resume" in alerts_to(fake, OTHER_USER)[0]
