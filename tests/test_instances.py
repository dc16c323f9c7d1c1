"""Three ``newsbot run`` processes on one PostgreSQL database, for real: separate processes,
the real server, the fake Bot API server and a loopback feed server with 50 feeds.

- Working together: every alert arrives exactly once per (chat, story); each feed is fetched
  about once per interval in all, not once per instance; nobody is answered 409; the fake
  server counts no flood-limit violation; every command is answered exactly once; /metrics
  shows the counters moving.
- SIGKILL of the leader (the Telegram lease) and of one polling instance in the middle of a
  burst: the others take over within the leases (printed), nothing is lost, and duplicates
  stay within the sends that were in flight.

About a minute and a half each; marked slow. ``pytest -s`` prints the figures."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.storage import Store
from tests.conftest import PG_URL
from tests.e2e_support import free_port, item
from tests.fakes.feed_server import Delay, FeedServer
from tests.fakes.feedgen import Item, rss
from tests.fakes.telegram_api import FakeTelegram

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="NEWSBOT_TEST_DATABASE_URL not set"),
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),
]

FEEDS = 50
CHATS = list(range(5001, 5009))
INTERVAL = 4.0
LEADER_LEASE = 6.0
POLL_LEASE = 6.0
RULES = {"k.yaml": "rules:\n  - {id: karabakh, title: Karabakh, any: [Nagorno-Karabakh]}\n"}
ADMIN = 5001


@dataclass
class Instance:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        """The instance's /metrics, as {series: value}."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values


@dataclass
class Cluster:
    feed_server: FeedServer
    telegram: FakeTelegram
    config: Path
    tmp: Path
    instances: list[Instance] = field(default_factory=list)
    feeds: dict[str, list[Item]] = field(default_factory=dict)

    def start(self, count: int) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for n in range(count):
            port = free_port()
            config = self.tmp / f"config{n}.yaml"
            config.write_text(
                self.config.read_text() + f"observability:\n  listen: 127.0.0.1:{port}\n"
            )
            log = self.tmp / f"instance{n}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "bot", "run", "--config", str(config)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.tmp,
                )
            self.instances.append(Instance(f"i{n}", process, port, log))

    def stop(self) -> None:
        for instance in self.instances:
            if instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in self.instances:
            try:
                instance.process.wait(30)
            except subprocess.TimeoutExpired:
                instance.process.kill()
                instance.process.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {i.name}\n{i.log.read_text()[-6000:]}" for i in self.instances)

    def publish(self, feed: str, n: int) -> str:
        # A story of its own per feed: its own link and number (the same link or the same
        # words from several feeds would be one story, one message).
        title = f"Nagorno-Karabakh report {feed} number {int(feed[1:]) * 1000 + n}"
        self.feeds[feed].append(
            replace(
                item(n, title), link=f"https://{feed}.example.invalid/{n}", summary=f"From {feed}"
            )
        )
        self.feed_server.set_feed(f"/{feed}.xml", rss(self.feeds[feed]))
        return title


@pytest.fixture
def cluster(
    write_config: Callable[..., Path],
    feed_server: FeedServer,
    telegram: FakeTelegram,
    db_url: str,
    tmp_path: Path,
) -> Iterator[Cluster]:
    for chat in CHATS:
        telegram.add_user(chat)
    feeds = {f"f{n:02d}": [item(0, "Quiet day")] for n in range(FEEDS)}
    for name, items in feeds.items():
        feed_server.set_feed(f"/{name}.xml", rss(items))
    feed_lines = "".join(
        f"  - {{name: {name}, url: '{feed_server.url(f'/{name}.xml')}'}}\n" for name in feeds
    )
    config = write_config(
        f"telegram:\n  token: '{telegram.token}'\n  api_url: {telegram.base_url}\n"
        f"  poll_timeout: 2s\n  admins: [{ADMIN}]\n"
        f"storage:\n  url: {db_url}\n"
        f"polling:\n  interval: {INTERVAL:g}s\n  min_interval: {INTERVAL:g}s\n"
        "  timeout: 5s\n  jitter: 0\n  adaptive: false\n  concurrency: 20\n  per_host: 100\n"
        f"coordination:\n  leader_lease: {LEADER_LEASE:g}s\n  poll_lease: {POLL_LEASE:g}s\n"
        "log_level: INFO\n"
        f"feeds:\n{feed_lines}",
        RULES,
    )
    group = Cluster(feed_server, telegram, config, tmp_path, feeds=feeds)
    try:
        yield group
    finally:
        group.stop()


async def _subscribe_all(url: str) -> None:
    store = await Store.open(url)
    try:
        now = datetime.now(UTC)
        for chat in CHATS:
            await store.subscribe(str(chat), "karabakh", now)
    finally:
        await store.close()


async def _seeded(url: str) -> int:
    store = await Store.open(url)
    try:
        return sum(1 for s in (await store.feed_states()).values() if s.seeded)
    finally:
        await store.close()


async def _leader(url: str) -> tuple[str | None, dict[str, int]]:
    """The holder of the Telegram lease, and every live instance's pid by id."""
    store = await Store.open(url)
    try:
        leases = {name: holder for name, holder, _, _ in await store.leases()}
        pids = {i.id: i.pid for i in await store.instances() if i.stopped_at is None}
        return leases.get("telegram"), pids
    finally:
        await store.close()


async def _feed_leases(url: str) -> dict[str, tuple[str, datetime]]:
    store = await Store.open(url)
    try:
        return await store.feed_leases(datetime.now(UTC))
    finally:
        await store.close()


async def _ready(cluster: Cluster, db_url: str) -> None:
    await _subscribe_all(db_url)
    cluster.start(3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (
            await _seeded(db_url) == FEEDS
            and (await _leader(db_url))[0] is not None
            and all(i.healthy() for i in cluster.instances)
        ):
            return
        for instance in cluster.instances:
            assert instance.process.poll() is None, cluster.logs()
        await asyncio.sleep(0.5)
    raise AssertionError("feeds not seeded\n" + cluster.logs())


def _copies(telegram: FakeTelegram, titles: set[str]) -> Counter[tuple[int, str]]:
    copies: Counter[tuple[int, str]] = Counter()
    for chat in CHATS:
        for m in telegram.messages_to(chat):
            first = m.plain_text.splitlines()[0] if m.plain_text else ""
            if first in titles:
                copies[(chat, first)] += 1
    return copies


async def _all_delivered(
    telegram: FakeTelegram, titles: set[str], timeout: float, cluster: Cluster
) -> Counter[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        copies = _copies(telegram, titles)
        if len(copies) == len(titles) * len(CHATS):
            return copies
        await asyncio.sleep(0.5)
    copies = _copies(telegram, titles)
    missing = len(titles) * len(CHATS) - len(copies)
    raise AssertionError(f"{missing} alerts never arrived\n" + cluster.logs())


async def test_three_instances_share_the_work_and_telegram(
    cluster: Cluster, telegram: FakeTelegram, feed_server: FeedServer, db_url: str
) -> None:
    await _ready(cluster, db_url)
    before = [i.metrics() for i in cluster.instances]
    # A quiet spell: how often is each feed fetched, all instances together?
    feed_server.reset_records()
    quiet = 6 * INTERVAL
    await asyncio.sleep(quiet)
    fetches = sum(feed_server.hits(f"/{name}.xml") for name in cluster.feeds)
    per_interval = fetches / FEEDS / (quiet / INTERVAL)
    # Then one story on every feed, commands from every user meanwhile.
    titles = {cluster.publish(name, 1) for name in cluster.feeds}
    commands = {chat: telegram.user_sends(chat, "/help") for chat in CHATS}
    copies = await _all_delivered(telegram, titles, 150, cluster)
    await asyncio.sleep(2 * INTERVAL)  # room for any duplicate to show
    copies = _copies(telegram, titles)
    duplicates = sum(n - 1 for n in copies.values())
    answers = {
        chat: sum(1 for m in telegram.messages_to(chat) if m.plain_text.startswith("Commands"))
        for chat in CHATS
    }
    conflicts = sum(1 for r in telegram.calls("getUpdates") if r.status == 409)
    violations = telegram.limit_violations()
    after = [i.metrics() for i in cluster.instances]
    polls = sum(
        v for m in after for k, v in m.items() if k.startswith("newsbot_polls_total")
    ) - sum(v for m in before for k, v in m.items() if k.startswith("newsbot_polls_total"))
    sent = sum(m.get('newsbot_alerts_total{outcome="sent"}', 0) for m in after)
    leaders = [m.get("newsbot_leader", 0) for m in after]
    print(
        f"\nthree instances: {FEEDS} feeds fetched {per_interval:.2f} times per interval in "
        f"all; {len(titles)} stories x {len(CHATS)} chats: {len(copies)} delivered, "
        f"{duplicates} duplicates; commands answered {sorted(set(answers.values()))} times; "
        f"409s {conflicts}; flood violations {violations}; /metrics: {polls:.0f} polls, "
        f"{sent:.0f} sent, leader gauges {leaders}"
    )
    assert len(commands) == len(CHATS)
    assert 0.5 <= per_interval <= 1.3, per_interval  # once in all, not once per instance
    assert duplicates == 0
    assert all(n == 1 for n in answers.values()), answers
    assert conflicts == 0
    assert violations == {"per_chat": 0, "per_group": 0, "global": 0}
    assert polls > 0 and sent == len(titles) * len(CHATS)
    assert sorted(leaders) == [0, 0, 1]
    for instance in cluster.instances:
        assert instance.process.poll() is None, cluster.logs()
    assert "Traceback" not in cluster.logs()


async def test_killed_leader_and_poller_are_taken_over_without_loss(
    cluster: Cluster, telegram: FakeTelegram, feed_server: FeedServer, db_url: str
) -> None:
    # Slow feeds keep polls under way at every moment: one instance dies holding claims.
    for name in list(cluster.feeds)[:10]:
        feed_server.set_behavior(f"/{name}.xml", Delay(1.5))
    await _ready(cluster, db_url)
    titles = {cluster.publish(name, 1) for name in cluster.feeds}
    # Mid-burst: some alerts out, most still queued.
    await telegram.wait_for_async(lambda: len(telegram.sent) >= 40, timeout=60)
    leader, pids = await _leader(db_url)
    assert leader is not None
    claims = await _feed_leases(db_url)
    pollers = Counter(holder for holder, _ in claims.values() if holder != leader)
    victim = pollers.most_common(1)[0][0] if pollers else next(i for i in pids if i != leader)
    held = {feed for feed, (holder, _) in claims.items() if holder == victim}
    by_pid = {i.process.pid: i for i in cluster.instances}
    killed_at = time.monotonic()
    for instance_id in (leader, victim):
        by_pid[pids[instance_id]].process.send_signal(signal.SIGKILL)
    telegram_takeover = feed_takeover = None
    deadline = killed_at + 3 * max(LEADER_LEASE, POLL_LEASE)
    while time.monotonic() < deadline and (telegram_takeover is None or feed_takeover is None):
        holder, _ = await _leader(db_url)
        if telegram_takeover is None and holder not in (None, leader, victim):
            telegram_takeover = time.monotonic() - killed_at
        now_claims = await _feed_leases(db_url)
        if feed_takeover is None and not any(
            now_claims.get(feed, ("", None))[0] == victim for feed in held
        ):
            feed_takeover = time.monotonic() - killed_at
        await asyncio.sleep(0.1)
    more = {cluster.publish(name, 2) for name in list(cluster.feeds)[:5]}
    copies = await _all_delivered(telegram, titles | more, 180, cluster)
    await asyncio.sleep(2 * INTERVAL)
    copies = _copies(telegram, titles | more)
    duplicates = sum(n - 1 for n in copies.values())
    print(
        f"\nkilled the leader and a poller holding {len(held)} feed claims: Telegram lease "
        f"taken over after {telegram_takeover:.1f}s (lease {LEADER_LEASE:g}s), the feed claims "
        f"after {feed_takeover:.1f}s (lease {POLL_LEASE:g}s); "
        f"{len(copies)} of {len(titles | more) * len(CHATS)} alerts delivered, "
        f"{duplicates} duplicates; flood violations {telegram.limit_violations()}"
    )
    assert telegram_takeover is not None and telegram_takeover <= LEADER_LEASE * 4 / 3 + 1
    assert feed_takeover is not None and feed_takeover <= POLL_LEASE + 3
    assert duplicates <= 8, "at most one per send in flight (delivery.concurrency 8)"
    assert telegram.limit_violations() == {"per_chat": 0, "per_group": 0, "global": 0}
    # The leader's in-flight batch went back at once, not after the 60 s delivery lease.
    assert max(m.time for m in telegram.sent) - min(m.time for m in telegram.sent) < 120
