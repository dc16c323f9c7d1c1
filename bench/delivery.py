"""Delivery: 1,000 alerts to 1,000 chats through a fake Bot API enforcing Telegram's limits.

Target (from the issue): the 1,000 alerts drain within 10% of the limit-bound time (1,000 / 30
per second, about 34 s) with zero 429s.

A real ``newsbot run`` process (see :mod:`bench.botrun`) watches one loopback feed; 1,000
private chats are subscribed to one rule. When the benchmark publishes a matching story, the
bot's next poll (1 s interval) queues 1,000 deliveries, and the sender drains them through the
fake Bot API server, which answers 429 (with ``retry_after``) to any send over Telegram's
limits: about 1 per second per chat, 20 per minute per group, 30 per second overall. Time to
drain runs from the fetch of the new story to the last message accepted.

Baselines, in the same run: the limit-bound ideal (N alerts at the fake's global limit, the
fastest any sender can go without a 429), and a naive sender (httpx, as fast as it can with the
same concurrency as the bot's, no pacing, honouring every ``retry_after``) sending the same
message to fresh chats on a fresh fake, to show the 429s that pacing avoids.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.botrun import (
    ADMIN,
    BotProcess,
    config_text,
    fake_telegram,
    fresh_database,
    rules_text,
    wait_until,
)
from bench.report import Row, Target
from bot.config import DeliverySettings, resolve_database_url
from bot.storage import Store
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import Item, rss
from tests.fakes.telegram_api import FakeTelegram, FloodLimits, SentMessage

TARGET_ALERTS = 1_000
TOLERANCE = 0.10
FIRST_CHAT = 10_001
FEED = "/news.xml"


@dataclass(frozen=True, slots=True)
class Drain:
    """One sender's run over ``alerts`` alerts."""

    alerts: int
    delivered: int
    """Distinct chats that received their alert."""
    duplicates: int
    started: float
    """Monotonic time the alerts became available to the sender."""
    first_send: float
    last_accepted: float
    too_many: int
    """429 answers."""
    violations: int
    """Sends over a limit counted by the fake (a 429 when enforced)."""
    other_errors: int
    busiest_second: int
    """Most messages accepted within any one-second window."""

    @property
    def seconds(self) -> float:
        return self.last_accepted - self.started

    @property
    def span(self) -> float:
        return self.last_accepted - self.first_send

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else float("nan")


def ideal_seconds(limits: FloodLimits, alerts: int) -> float:
    """The limit-bound time of ``alerts`` messages to distinct private chats: the global limit
    is the binding one, ``alerts / 30`` seconds."""
    return alerts * limits.global_window / limits.global_max


def shortest_span(limits: FloodLimits, alerts: int) -> float:
    """The shortest possible time from the first to the last of ``alerts`` sends under the
    fake's sliding one-second window: a burst of 30 each window, the last burst starting
    ``ceil(alerts / 30) - 1`` windows after the first."""
    return (math.ceil(alerts / limits.global_max) - 1) * limits.global_window


def busiest_window(times: Sequence[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def measure(fake: FakeTelegram, chats: set[int], alerts: int, started: float) -> Drain:
    """The drain of ``alerts`` alerts to ``chats`` as the fake recorded it."""
    sends = [r for r in fake.calls("sendMessage") if r.params.get("chat_id") in chats]
    accepted = [m for m in fake.sent if m.chat_id in chats]
    rejected = [r for r in fake.rejected if r.method == "sendMessage"]
    per_chat = Counter(m.chat_id for m in accepted)
    return Drain(
        alerts=alerts,
        delivered=len(per_chat),
        duplicates=len(accepted) - len(per_chat),
        started=started,
        first_send=min((r.time for r in sends), default=float("nan")),
        last_accepted=max((m.time for m in accepted), default=float("nan")),
        too_many=sum(r.error_code == 429 for r in rejected),
        violations=sum(fake.limit_violations().values()),
        other_errors=sum(r.error_code != 429 for r in rejected),
        busiest_second=busiest_window([m.time for m in accepted]),
    )


# -- our bot ---------------------------------------------------------------------------------


async def _subscribe(url: str, chats: Sequence[int], rule: str) -> None:
    """Subscribe the chats to the rule, as /subscribe in each private chat would."""
    store = await Store.open(url)
    try:
        now = datetime.now(UTC)
        for chat in chats:
            await store.subscribe(str(chat), rule, now)
    finally:
        await store.close()


def run_bot(alerts: int, workdir: Path) -> tuple[Drain, SentMessage, dict[str, float]]:
    """Our bot delivering one story to ``alerts`` subscribed chats. Returns the drain, one of
    the messages (for the naive sender to copy) and set-up timings."""
    chats = list(range(FIRST_CHAT, FIRST_CHAT + alerts))
    timings: dict[str, float] = {}
    with FeedServer() as feeds, fake_telegram() as fake:
        fake.add_user(ADMIN, "Admin")
        for chat in chats:
            fake.add_user(chat, f"Reader {chat}")
        when = datetime.now(UTC) - timedelta(hours=1)
        old = Item("Weather outlook for the week", "https://news.invalid/0", "s0", published=when)
        feeds.set_feed(FEED, rss([old]))
        database = fresh_database(workdir / "newsbot.db")
        config = workdir / "config.yaml"
        config.write_text(
            config_text(
                api_url=fake.base_url,
                database=database,
                feeds=[("news", feeds.url(FEED))],
                polling={
                    "interval": "1s",
                    "min_interval": "1s",
                    "jitter": "0",
                    "timeout": "5s",
                    "per_host": "500",  # one loopback server stands for many hosts
                },
            ),
            encoding="utf-8",
        )
        rules = workdir / "rules"
        rules.mkdir(exist_ok=True)
        rule = {"id": "drones", "title": "Turkish drones", "any": ["Bayraktar", "Akinci"]}
        (rules / "drones.yaml").write_text(rules_text([rule]), encoding="utf-8")
        t0 = time.perf_counter()
        url = resolve_database_url(f"sqlite:///{database}", workdir)
        asyncio.run(_subscribe(url, chats, "drones"))
        timings["subscribing the chats"] = time.perf_counter() - t0

        bot = BotProcess(config, workdir / "bot.log").start()
        try:
            ready = wait_until(lambda: bool(fake.calls("getUpdates")), 60, "Telegram ready", bot)
            timings["bot start (to first getUpdates)"] = ready - bot.started_at
            # Seeded: the first poll recorded the old story, a later one found it unchanged.
            wait_until(lambda: 304 in feeds.responses(FEED), 30, "the feed to be seeded", bot)
            published = time.monotonic()
            new = Item(
                "Bayraktar TB2 drones delivered to a new customer",
                "https://news.invalid/1",
                "s1",
                summary="The Bayraktar TB2 order was confirmed on Monday.",
                published=datetime.now(UTC),
            )
            feeds.set_feed(FEED, rss([new, old]))
            ideal = ideal_seconds(fake.limits, alerts)
            wait_until(
                lambda: len({m.chat_id for m in fake.sent if m.chat_id >= FIRST_CHAT}) >= alerts,
                max(60.0, 5 * ideal),
                f"{alerts:,} alerts to arrive",
                bot,
                step=0.1,
            )
            time.sleep(0.5)  # a duplicate or a late 429 would show up now
        finally:
            status = bot.stop()
        if status not in (0, None):
            print(f"  WARNING: the bot exited with status {status}:\n{bot.tail()}")
        fetched = min(r.time for r in feeds.requests(FEED) if r.time >= published)
        drain = measure(fake, set(chats), alerts, fetched)
        sample = next(m for m in fake.sent if m.chat_id == chats[0])
        timings["new story: published -> fetched"] = fetched - published
        return drain, sample, timings


# -- the naive sender ------------------------------------------------------------------------


async def _naive_send(
    fake: FakeTelegram, chats: Sequence[int], sample: SentMessage, concurrency: int
) -> float:
    """Send ``sample`` to every chat as fast as ``concurrency`` connections allow, with no
    pacing; on a 429 every worker waits ``retry_after`` and the message is retried. Returns
    the monotonic time of the first send."""
    url = f"{fake.base_url}{fake.token}/sendMessage"
    queue = deque(chats)
    paused_until = 0.0
    payload: dict[str, Any] = {"text": sample.text, "disable_notification": False}
    if sample.parse_mode:
        payload["parse_mode"] = sample.parse_mode
    if sample.reply_markup:
        payload["reply_markup"] = sample.reply_markup
    if sample.link_preview_options:
        payload["link_preview_options"] = sample.link_preview_options
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.monotonic()

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal paused_until
            while queue:
                wait = paused_until - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                chat = queue.popleft()
                response = await client.post(url, json={**payload, "chat_id": chat})
                if response.status_code == 429:
                    retry_after = float(response.json()["parameters"]["retry_after"])
                    paused_until = max(paused_until, time.monotonic() + retry_after)
                    queue.append(chat)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return started


def run_naive(alerts: int, sample: SentMessage, concurrency: int) -> Drain:
    chats = list(range(FIRST_CHAT, FIRST_CHAT + alerts))
    with fake_telegram() as fake:
        for chat in chats:
            fake.add_user(chat, f"Reader {chat}")
        started = asyncio.run(_naive_send(fake, chats, sample, concurrency))
        return measure(fake, set(chats), alerts, started)


# -- the benchmark ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench delivery", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--alerts", type=int, help="alerts, one per chat (1,000; quick 150)")
    p.add_argument(
        "--naive-alerts", type=int, help="alerts for the naive sender (300; quick 100; 0: skip)"
    )
    p.add_argument("--quick", action="store_true", help="a run of under 30 s")
    p.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    p.add_argument("--keep", type=Path, help="keep the work files (config, database, log) here")
    args = p.parse_args(list(argv))
    if args.alerts is None:
        args.alerts = 150 if args.quick else TARGET_ALERTS
    if args.naive_alerts is None:
        args.naive_alerts = 100 if args.quick else 300
    if args.alerts < 1 or args.naive_alerts < 0:
        p.error("--alerts must be positive and --naive-alerts not negative")
    return args


def _rows(drain: Drain, limits: FloodLimits) -> list[Row]:
    ideal = ideal_seconds(limits, drain.alerts)
    return [
        Row("time to drain (story fetched -> last accepted)", drain.seconds, ideal, "s"),
        Row("first send -> last accepted", drain.span, shortest_span(limits, drain.alerts), "s"),
        Row("messages/s", drain.rate, drain.alerts / ideal),
        Row("busiest one-second window (messages)", drain.busiest_second, limits.global_max),
        Row("alerts delivered", drain.delivered, drain.alerts, compare=False),
        Row("delivered twice", drain.duplicates, 0, compare=False),
        Row("429 answers (Too Many Requests)", drain.too_many, 0, compare=False),
        Row("flood-limit violations counted by the fake", drain.violations, 0, compare=False),
        Row("other errors", drain.other_errors, 0, compare=False),
    ]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report.print_header("delivery")
    concurrency = DeliverySettings().concurrency
    limits = FloodLimits()
    print(report.section("set-up"))
    report.print_facts(
        [
            ("bot", "a real `python -m bot run` process (see bench/botrun.py), SQLite file"),
            ("fake Bot API", "tests/fakes/telegram_api.py, limits enforced (429 + retry_after)"),
            ("limits", "1 msg/s per chat, 20/min per group, 30/s overall"),
            ("ours", f"{args.alerts:,} private chats subscribed to one rule; one story"),
            (
                "naive",
                f"{args.naive_alerts:,} chats, httpx, {concurrency} connections (the bot's "
                "delivery.concurrency), no pacing, waits retry_after on 429",
            ),
        ]
    )
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ours, sample, timings = run_bot(args.alerts, workdir)
        naive = run_naive(args.naive_alerts, sample, concurrency) if args.naive_alerts else None
    report.print_facts([(k, f"{v:.2f} s") for k, v in timings.items()])

    print(report.section(f"results: newsbot, {args.alerts:,} alerts to {args.alerts:,} chats"))
    print(report.table(_rows(ours, limits), "newsbot", "limit-bound ideal"))
    if naive is not None:
        n_drain = naive
        n_ideal = ideal_seconds(limits, n_drain.alerts)
        print(report.section(f"baseline: naive sender, {n_drain.alerts:,} alerts"))
        print(report.table(_rows(n_drain, limits), "naive (no pacing)", "limit-bound ideal"))
        rows = [
            Row(
                "429 answers per 100 alerts",
                100 * ours.too_many / ours.alerts,
                100 * n_drain.too_many / n_drain.alerts,
                compare=False,
            ),
            Row(
                "time to drain / ideal",
                ours.seconds / ideal_seconds(limits, ours.alerts),
                n_drain.seconds / n_ideal,
            ),
        ]
        print(report.section("newsbot against the naive sender"))
        print(report.table(rows, "newsbot", "naive (no pacing)"))
    print(
        "  ratio = ours / baseline. Ideal: N alerts / 30 per second (the fake's global limit);\n"
        "  first -> last: bursts of 30 one second apart, the least a sender can take."
    )

    print(report.section("targets"))
    ideal = ideal_seconds(limits, ours.alerts)
    scale = "" if args.alerts == TARGET_ALERTS else f" (at {args.alerts:,} alerts)"
    ok_time = ours.seconds <= ideal * (1 + TOLERANCE) and ours.delivered == ours.alerts
    targets = [
        Target(
            f"drain within {TOLERANCE:.0%} of the limit-bound time",
            ok_time,
            f"{ours.seconds:.1f} s vs {ideal:.1f} s ideal ({ours.seconds / ideal - 1:+.1%}), "
            f"{ours.delivered:,}/{ours.alerts:,} delivered{scale}",
        ),
        Target(
            "zero 429s",
            ours.too_many == 0 and ours.violations == 0,
            f"{ours.too_many} 429 answers, {ours.violations} limit violations{scale}",
        ),
    ]
    all_met = report.print_targets(targets)
    print(f"\n  total run time {time.perf_counter() - started:.1f} s")
    return 1 if args.check and not all_met else 0
