"""Latency: a story appearing on a feed server to its alert reaching the (fake) Bot API.

Target (from the issue): p95 under the poll interval plus 2 s (62 s at a 60 s interval).

A real ``newsbot run`` process (see :mod:`bench.botrun`) polls many loopback feeds (300 by
default) at one interval (60 s; ``--quick``: 50 feeds at 5 s) with the default jitter (+-10%).
Once every feed has been read once, new stories appear at random times, on random feeds, for a
few interval lengths; each matches one of 20 rules, and each rule notifies its own private chat.
The appearance time is taken on the feed server as the new body is put in place; the arrival
time is when the fake Bot API server receives the message (the same clock, both in this
process). The bot does not know when a story appears, so its latency is the wait for the
feed's next poll plus the time to fetch, parse, match, store and send.

Baseline: an ideal poller, polling every feed exactly every interval and taking no time at all,
whose latency is uniform between 0 and the interval (p50 = interval/2, p95 = 0.95 x interval).
The processing time alone (from the fetch that brought the story to the message's arrival) is
shown too.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean

from bench import report
from bench.botrun import (
    ADMIN,
    BotProcess,
    config_text,
    fake_telegram,
    fresh_database,
    percentile,
    rules_text,
    wait_until,
)
from bench.report import Row, Target
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import Item, rss

SLACK = 2.0
"""Seconds over the interval that the p95 may take (the issue's bound)."""
RULES = 20
FIRST_CHAT = 20_001
ITEMS = 10
"""Items per feed document (new ones push the oldest out)."""
_STORY = re.compile(r"Story (\d+):")


@dataclass(frozen=True, slots=True)
class Sample:
    story: int
    feed: int
    appeared: float
    fetched: float | None
    """When the bot first requested the feed after the story appeared."""
    arrived: float | None

    @property
    def latency(self) -> float | None:
        return None if self.arrived is None else self.arrived - self.appeared

    @property
    def processing(self) -> float | None:
        if self.arrived is None or self.fetched is None:
            return None
        return self.arrived - self.fetched


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench latency", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--feeds", type=int, help="feeds polled (300; quick 50)")
    p.add_argument("--interval", type=float, help="poll interval in seconds (60; quick 5)")
    p.add_argument("--stories", type=int, help="new stories measured (300; quick 40)")
    p.add_argument(
        "--window", type=float, help="seconds over which stories appear (2.5 intervals; quick 2)"
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the story times (default 1)")
    p.add_argument("--quick", action="store_true", help="a run of under 30 s")
    p.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    p.add_argument("--keep", type=Path, help="keep the work files (config, database, log) here")
    args = p.parse_args(list(argv))
    feeds, interval, stories, windows = (50, 5.0, 40, 2.0) if args.quick else (300, 60.0, 300, 2.5)
    args.feeds = args.feeds or feeds
    args.interval = args.interval or interval
    args.stories = args.stories or stories
    args.window = args.window or windows * args.interval
    if args.feeds < 1 or args.stories < 1 or args.interval < 1 or args.window <= 0:
        p.error("--feeds and --stories must be positive, --interval at least 1 s")
    return args


def _item(n: int, title: str, when: datetime) -> Item:
    return Item(
        title=title,
        link=f"https://news.invalid/story/{n}",
        guid=f"story-{n}",
        summary=f"{title}. Reported on {when:%d %B %Y at %H:%M:%S}.",
        published=when,
    )


def run(args: argparse.Namespace, workdir: Path) -> tuple[list[Sample], dict[str, float], int]:
    """Run the bot, publish the stories, and return one sample per story, set-up timings, and
    the 429s the fake answered."""
    rng = random.Random(args.seed)
    timings: dict[str, float] = {}
    chats = [FIRST_CHAT + k for k in range(RULES)]
    with FeedServer() as server, fake_telegram() as fake:
        fake.add_user(ADMIN, "Admin")
        for chat in chats:
            fake.add_user(chat, f"Analyst {chat}")
        now = datetime.now(UTC)
        items: list[list[Item]] = []
        for f in range(args.feeds):
            old = [
                _item(-(f * ITEMS + i) - 1, f"Old story {i} of feed {f}", now - timedelta(hours=i))
                for i in range(ITEMS)
            ]
            items.append(old)
            server.set_feed(f"/feeds/{f}.xml", rss(old, title=f"Feed {f}"))
        config = workdir / "config.yaml"
        interval = f"{args.interval:g}s"
        config.write_text(
            config_text(
                api_url=fake.base_url,
                database=fresh_database(workdir / "newsbot.db"),
                feeds=[(f"feed-{f}", server.url(f"/feeds/{f}.xml")) for f in range(args.feeds)],
                polling={
                    "interval": interval,
                    "min_interval": interval,
                    "timeout": "10s",
                    "per_host": "500",  # one loopback server stands for many hosts
                },
            ),
            encoding="utf-8",
        )
        rules = workdir / "rules"
        rules.mkdir(exist_ok=True)
        rule_list: list[dict[str, object]] = [
            {"id": f"topic-{k}", "title": f"Topic {k}", "any": [f"Marker{k}"], "notify": [str(c)]}
            for k, c in enumerate(chats)
        ]
        (rules / "topics.yaml").write_text(rules_text(rule_list), encoding="utf-8")

        bot = BotProcess(config, workdir / "bot.log").start()
        samples: list[tuple[int, int, float]] = []
        try:
            ready = wait_until(lambda: bool(fake.calls("getUpdates")), 60, "Telegram ready", bot)
            timings["bot start (to first getUpdates)"] = ready - bot.started_at
            paths = [f"/feeds/{f}.xml" for f in range(args.feeds)]
            seeded = wait_until(
                lambda: all(server.hits(p) for p in paths), 60 + args.feeds / 5, "first polls", bot
            )
            timings["first poll of every feed"] = seeded - ready
            time.sleep(1.0)  # the last first polls commit what they read
            start = time.monotonic()
            plan = sorted(rng.uniform(0, args.window) for _ in range(args.stories))
            for n, offset in enumerate(plan):
                delay = start + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                bot.check()
                f = rng.randrange(args.feeds)
                k = rng.randrange(RULES)
                title = f"Story {n}: Marker{k} reported by feed {f}"
                items[f] = [_item(n, title, datetime.now(UTC)), *items[f][: ITEMS - 1]]
                server.set_feed(paths[f], rss(items[f], title=f"Feed {f}"))
                samples.append((n, f, time.monotonic()))

            def arrived() -> int:
                return sum(1 for m in fake.sent if _STORY.match(m.plain_text))

            try:
                wait_until(
                    lambda: arrived() >= args.stories,
                    args.interval * 1.2 + 20,
                    "every story to arrive",
                    bot,
                    step=0.1,
                )
            except TimeoutError as exc:
                print(f"  WARNING: {str(exc).splitlines()[0]}")
        finally:
            status = bot.stop()
        if status not in (0, None):
            print(f"  WARNING: the bot exited with status {status}:\n{bot.tail()}")
        arrivals: dict[int, float] = {}
        for m in fake.sent:
            match = _STORY.match(m.plain_text)
            if match:
                arrivals.setdefault(int(match.group(1)), m.time)
        requests = {p: [r.time for r in server.requests(p)] for p in paths}
        too_many = sum(r.error_code == 429 for r in fake.rejected)
    out = []
    for n, f, appeared in samples:
        fetched = next((t for t in requests[paths[f]] if t >= appeared), None)
        out.append(Sample(n, f, appeared, fetched, arrivals.get(n)))
    return out, timings, too_many


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report.print_header("latency")
    interval, bound = args.interval, args.interval + SLACK
    print(report.section("set-up"))
    report.print_facts(
        [
            ("bot", "a real `python -m bot run` process (see bench/botrun.py), SQLite file"),
            ("feeds", f"{args.feeds:,} on a loopback feed server (ETag/304)"),
            ("interval", f"{interval:g} s, default jitter (+-10%)"),
            (
                "stories",
                f"{args.stories:,} at random times over {args.window:g} s on random feeds "
                f"(seed {args.seed}); {RULES} rules, one private chat each",
            ),
        ]
    )
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        samples, timings, too_many = run(args, workdir)
    report.print_facts([(k, f"{v:.2f} s") for k, v in timings.items()])

    latencies = [s.latency for s in samples if s.latency is not None]
    processing = [s.processing for s in samples if s.processing is not None]
    missing = len(samples) - len(latencies)
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(report.section(f"results: {len(latencies):,} stories at a {interval:g} s interval"))
    rows = [
        Row("p50 latency", p50, interval / 2, "s"),
        Row("p95 latency", p95, 0.95 * interval, "s"),
        Row("max latency", max(latencies, default=None), interval, "s"),
        Row("mean latency", mean(latencies) if latencies else None, interval / 2, "s"),
        Row("processing p50 (fetch -> at Bot API)", percentile(processing, 50), 0.0, "s"),
        Row("processing p95", percentile(processing, 95), 0.0, "s"),
        Row("processing max", max(processing, default=None), 0.0, "s"),
        Row("stories measured", len(latencies), len(samples), compare=False),
        Row("stories that never arrived", missing, 0, compare=False),
        Row("429 answers", too_many, 0, compare=False),
    ]
    print(report.table(rows, "newsbot", "ideal poller"))
    print(
        "  ratio = ours / baseline. Ideal poller: every feed polled exactly every interval, in\n"
        "  no time (latency uniform in [0, interval]). Processing: from the request that\n"
        "  fetched the new story to the alert's arrival at the fake Bot API."
    )

    print(report.section("targets"))
    scale = "" if interval == 60 else f" (at a {interval:g} s interval; the target is for 60 s)"
    targets = [
        Target(
            f"p95 under the interval + {SLACK:g} s",
            bool(latencies) and p95 < bound and missing == 0,
            f"p95 {p95:.2f} s vs {bound:g} s; {missing} of {len(samples)} never arrived{scale}",
        )
    ]
    all_met = report.print_targets(targets)
    print(f"\n  total run time {time.perf_counter() - started:.1f} s")
    return 1 if args.check and not all_met else 0
