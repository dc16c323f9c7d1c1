"""Memory: peak RSS of a running bot with 10,000 feeds, 10,000 rules and 1,000,000 stories.

Target (from the issue): peak RSS under 250 MB at that size.

Set-up (data, not measured): a SQLite database created with the bot's own schema
(:mod:`bot.storage.schema`) and bulk-filled with 1,000,000 stored stories, 100 per feed, and the
state of 10,000 feeds as a running bot leaves it (seeded, with the ETag and Last-Modified of the
documents the loopback feed server now serves, and due now); 10,000 rules generated from the
corpus's vocabulary (:mod:`bench.rulegen`, as the matching benchmark) in rule files, one rule in
50 notifying one of 50 private chats; a config listing the 10,000 feeds.

Then a real ``newsbot run`` process (see :mod:`bench.botrun`) starts on it and polls every feed
once: most answer 304 Not Modified, 1% carry a new story, which is parsed, matched, stored and
alerted (through the fake Bot API). The kernel's peak RSS (VmHWM) of the bot process is read,
and the RSS of the whole process tree (the parser worker processes and multiprocessing's
resource tracker included) is sampled every 0.2 s until the alerts are sent.

Baselines: the 250 MB bound, and the RSS of a bare interpreter that imported the bot and loaded
nothing (what the data adds to it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

from sqlalchemy import create_engine

from bench import corpus as corpora
from bench import report, rulegen
from bench.botrun import (
    ADMIN,
    ROOT,
    BotProcess,
    config_text,
    fake_telegram,
    fresh_database,
    q,
    wait_until,
)
from bench.procmem import Peaks, Sampler, mb
from bench.report import Row, Target
from bot.core.rules import Rule
from bot.storage import schema
from tests.fakes.feed_server import FeedServer

TARGET_MB = 250.0
TARGET = (10_000, 10_000, 1_000_000)
"""Feeds, rules, stories of the issue's target."""
ITEMS = 10
"""Items in each feed document (the newest of its stored stories)."""
CHANGED = 0.01
"""Share of the feeds that carry a new story when the bot starts."""
NOTIFY_EVERY = 50
CHATS = 50
FIRST_CHAT = 30_001
RULE_FILES = 10


# -- set-up: feeds, rules, database ----------------------------------------------------------


def _stamp(dt: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite (naive UTC text)."""
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _key(guid: str) -> str:
    """The key the parser gives an item with this guid (see bot.feeds.parse)."""
    return hashlib.sha256(f"id:{guid}".encode()).hexdigest()[:40]


class Texts:
    """Titles and summaries drawn from the corpus, cycling through it."""

    def __init__(self, corpus: corpora.Corpus, seed: int) -> None:
        self.records = corpus.records
        self.i = random.Random(seed).randrange(len(self.records))

    def next(self, summary_parts: int = 3) -> tuple[str, str]:
        n = len(self.records)
        title, summary = self.records[self.i % n]
        parts = [summary] if summary else []
        for j in range(1, summary_parts):
            t, s = self.records[(self.i + j) % n]
            parts.append(s or t)
        self.i += summary_parts
        return title or "Untitled", " ".join(parts)


def feed_document(feed: int, items: Sequence[tuple[str, str, str, datetime]]) -> bytes:
    """An RSS 2.0 document of ``(guid, title, summary, published)`` items."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>Feed {feed}</title><link>https://news{feed}.invalid/</link>",
        "<description>A feed of the memory benchmark</description>",
    ]
    for guid, title, summary, when in items:
        out.append(
            f"<item><title>{escape(title)}</title>"
            f"<link>https://news{feed}.invalid/{guid}</link>"
            f'<guid isPermaLink="false">{guid}</guid>'
            f"<description>{escape(summary)}</description>"
            f"<pubDate>{format_datetime(when)}</pubDate></item>"
        )
    out.append("</channel></rss>\n")
    return "".join(out).encode("utf-8")


def write_rules(directory: Path, rules: Sequence[Rule], chats: Sequence[int]) -> int:
    """The rules as YAML rule files; every NOTIFY_EVERY-th rule notifies a chat. Returns the
    number of rules with a chat."""
    directory.mkdir(parents=True, exist_ok=True)
    per_file = -(-len(rules) // RULE_FILES)
    notifying = 0
    for f in range(RULE_FILES):
        lines = ["rules:"]
        for i, rule in enumerate(rules[f * per_file : (f + 1) * per_file], f * per_file):
            lines.append(f"  - id: {rule.id}")
            lines.append(f"    title: {q(rule.title)}")
            lines.append(f"    any: [{', '.join(q(t) for t in rule.any)}]")
            if i % NOTIFY_EVERY == 0:
                lines.append(f"    notify: ['{chats[(i // NOTIFY_EVERY) % len(chats)]}']")
                notifying += 1
        (directory / f"bench-{f:02d}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return notifying


def seed_database(
    path: Path, server: FeedServer, feeds: int, stories: int, texts: Texts, now: datetime
) -> tuple[int, int]:
    """Create the bot's schema in ``path``, then bulk-insert ``stories`` stories spread over
    ``feeds`` feeds and those feeds' state; serve each feed's newest ITEMS stories (plus a new
    story on a CHANGED share of them). Returns (stories inserted, feeds changed)."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        schema.create_latest(conn)
    engine.dispose()
    per_feed = max(ITEMS, stories // feeds)
    rng = random.Random(len(texts.records))
    changed = set(rng.sample(range(feeds), max(1, round(feeds * CHANGED))))
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=MEMORY")
    db.execute("PRAGMA synchronous=OFF")
    feed_rows = []
    total = 0

    def rows() -> Iterator[tuple[object, ...]]:
        nonlocal total
        for f in range(feeds):
            name = f"feed-{f}"
            count = min(per_feed, stories - total) if f < feeds - 1 else stories - total
            count = max(count, 0)
            items = []
            for k in range(count):
                guid = f"f{f}-{k}"
                title, summary = texts.next()
                when = now - timedelta(minutes=30 * (count - k))
                seen = _stamp(when)
                if k >= count - ITEMS:
                    items.append((guid, title, summary, when))
                yield (name, _key(guid), title, f"https://news{f}.invalid/{guid}", summary,
                       seen, seen, seen)  # fmt: skip
            total += count
            items.reverse()  # newest first, as feeds list them
            body = feed_document(f, items)
            path_ = f"/f/{f}.xml"
            server.set_feed(path_, body, modified_at=now - timedelta(hours=1))
            feed_rows.append(
                (name, server.url(path_), server.etag(path_), server.last_modified(path_),
                 hashlib.sha256(body).hexdigest(), _stamp(now - timedelta(minutes=10)))
            )  # fmt: skip
            if f in changed:
                title, summary = texts.next(6)
                new = (f"f{f}-new", title, summary, now)
                server.set_feed(path_, feed_document(f, [new, *items[: ITEMS - 1]]))

    with db:
        db.executemany(
            "INSERT INTO stories (feed, key, title, link, summary, published_at, first_seen_at,"
            " last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        now_s = _stamp(now)
        db.executemany(
            "INSERT INTO feeds (name, url, etag, last_modified, body_hash, seeded,"
            " last_polled_at, last_success_at, consecutive_failures, next_poll_at, disabled,"
            " created_at) VALUES (?, ?, ?, ?, ?, 1, ?6, ?6, 0, ?7, 0, ?7)",
            [(*r, now_s) for r in feed_rows],
        )
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return total, len(changed)


# -- measurement -----------------------------------------------------------------------------


def bare_interpreter() -> dict[str, int]:
    """RSS of a fresh interpreter that imported the bot (its command line, the composition
    root and every edge) and loaded nothing; and of one that imported only the parser, what
    a parser worker process starts from."""
    code = (
        "import json, {mod}\n"
        "st = {{}}\n"
        "for line in open('/proc/self/status'):\n"
        "    k, _, v = line.partition(':')\n"
        "    if k in ('VmRSS', 'VmHWM'): st[k] = int(v.split()[0]) * 1024\n"
        "print(json.dumps(st))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out: dict[str, int] = {}
    for name, mod in (("bot", "bot.cli"), ("worker", "bot.feeds.parse")):
        proc = subprocess.run(
            [sys.executable, "-c", code.format(mod=mod)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=60,
        )
        figures = json.loads(proc.stdout)
        out[f"{name}_rss"], out[f"{name}_hwm"] = figures["VmRSS"], figures["VmHWM"]
    return out


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench memory", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--feeds", type=int, help="feeds (10,000; quick 1,000)")
    p.add_argument("--rules", type=int, help="rules (10,000; quick 1,000)")
    p.add_argument("--stories", type=int, help="stored stories (1,000,000; quick 100,000)")
    p.add_argument("--concurrency", type=int, default=20, help="polling.concurrency (20)")
    p.add_argument("--seed", type=int, default=1, help="seed of rules and texts (default 1)")
    p.add_argument("--quick", action="store_true", help="a run of under 30 s")
    p.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    p.add_argument("--keep", type=Path, help="keep the work files (config, database, log) here")
    p.add_argument("--synthetic", action="store_true", help="use the synthetic corpus")
    p.add_argument(
        "--settle", type=float, default=5.0, help="seconds without a new alert that end the run"
    )
    args = p.parse_args(list(argv))
    feeds, rules, stories = (1_000, 1_000, 100_000) if args.quick else TARGET
    args.feeds = args.feeds or feeds
    args.rules = args.rules or rules
    args.stories = args.stories if args.stories is not None else stories
    if args.feeds < 1 or args.rules < 1 or args.stories < 0:
        p.error("--feeds and --rules must be positive")
    return args


def run(args: argparse.Namespace, workdir: Path) -> tuple[Peaks, dict[str, float], dict[str, int]]:
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    corpus = corpora.load(synthetic=args.synthetic, seed=args.seed)
    # A small run draws its few rules from part of the corpus (counting every word is slow).
    sample = corpus.records[: max(5_000, 10 * args.rules)]
    vocab = rulegen.vocabulary(corpora.Corpus(corpus.description, sample, corpus.real), args.seed)
    rules = rulegen.rules(vocab, args.rules, args.seed)
    chats = [FIRST_CHAT + i for i in range(CHATS)]
    counts["rules with a chat"] = write_rules(workdir / "rules", rules, chats)
    timings["rules generated and written"] = time.perf_counter() - t0
    with FeedServer() as server, fake_telegram() as fake:
        fake.add_user(ADMIN, "Admin")
        for chat in chats:
            fake.add_user(chat, f"Analyst {chat}")
        t0 = time.perf_counter()
        database = fresh_database(workdir / "newsbot.db")
        now = datetime.now(UTC)
        texts = Texts(corpus, args.seed)
        counts["stories"], counts["feeds changed"] = seed_database(
            database, server, args.feeds, args.stories, texts, now
        )
        timings["database seeded"] = time.perf_counter() - t0
        counts["database MB"] = round(database.stat().st_size / 2**20)
        config = workdir / "config.yaml"
        config.write_text(
            config_text(
                api_url=fake.base_url,
                database=database,
                feeds=[(f"feed-{f}", server.url(f"/f/{f}.xml")) for f in range(args.feeds)],
                polling={
                    "interval": "30m",
                    "timeout": "30s",
                    "concurrency": str(args.concurrency),
                    "per_host": "500",  # one loopback server stands for many hosts
                },
            ),
            encoding="utf-8",
        )
        paths = [f"/f/{f}.xml" for f in range(args.feeds)]
        bot = BotProcess(config, workdir / "bot.log").start()
        sampler = Sampler(bot.pid).start()
        try:
            ready = wait_until(lambda: bool(fake.calls("getUpdates")), 180, "Telegram ready", bot)
            timings["bot start (to first getUpdates)"] = ready - bot.started_at
            counts["main RSS at start, MB"] = round((sampler.snapshot().last_main_rss) / 2**20)
            polled = wait_until(
                lambda: all(server.hits(p) for p in paths),
                60 + args.feeds / 20,
                "every feed to be polled",
                bot,
                step=0.5,
            )
            timings["every feed polled once"] = polled - ready

            def sent() -> int:
                return sum(1 for m in fake.sent if m.chat_id >= FIRST_CHAT)

            # Then until the alerts are sent: no new one for --settle seconds.
            last, quiet_since = -1, time.monotonic()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and time.monotonic() - quiet_since < args.settle:
                bot.check()
                if (n := sent()) != last:
                    last, quiet_since = n, time.monotonic()
                time.sleep(0.25)
            timings["alerts sent"] = time.monotonic() - polled
            counts["alerts sent"] = sent()
            counts["feeds answered 304"] = sum(304 in server.responses(p) for p in paths)
            counts["feeds answered 200"] = sum(200 in server.responses(p) for p in paths)
        finally:
            peaks = sampler.stop()
            status = bot.stop()
        if status not in (0, None):
            print(f"  WARNING: the bot exited with status {status}:\n{bot.tail()}")
        counts["429 answers"] = sum(r.error_code == 429 for r in fake.rejected)
        counts["bot log errors"] = len(bot.log_lines(" ERROR "))
    return peaks, timings, counts


def _kind(command: str) -> str:
    if "spawn_main" in command:
        return "parser worker"
    if "resource_tracker" in command:
        return "resource tracker"
    return command[:40] or "exited"


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report.print_header("memory")
    print(report.section("set-up"))
    report.print_facts(
        [
            ("bot", "a real `python -m bot run` process (see bench/botrun.py), SQLite file"),
            (
                "size",
                f"{args.feeds:,} feeds, {args.rules:,} rules, {args.stories:,} stored stories",
            ),
            (
                "polling",
                f"every feed due at start; concurrency {args.concurrency}; {CHANGED:.0%} of the "
                "feeds have a new story, the others answer 304",
            ),
        ]
    )
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        peaks, timings, counts = run(args, workdir)
    bare = bare_interpreter()
    report.print_facts([(k, f"{v:.1f} s") for k, v in timings.items()])
    report.print_facts([(k, f"{v:,}") for k, v in counts.items()])
    children = ", ".join(
        f"{hwm / 2**20:.0f} MB ({_kind(peaks.child_cmd.get(pid, ''))})"
        for pid, hwm in sorted(peaks.child_hwm.items())
    )
    report.print_facts(
        [
            ("samples", f"{peaks.samples:,} (every 0.2 s)"),
            ("child processes", f"{len(peaks.child_hwm)}: peak RSS {children or '-'}"),
        ]
    )

    print(report.section(f"results: {args.feeds:,} feeds, {args.rules:,} rules"))
    rows = [
        Row("peak RSS, bot process (VmHWM)", mb(peaks.main_hwm), TARGET_MB, "MB"),
        Row("peak RSS, bot + workers (sampled sum)", mb(peaks.total_rss), TARGET_MB, "MB"),
        Row("peak RSS, bot + workers (sum of peaks)", mb(peaks.hwm_sum), TARGET_MB, "MB"),
        Row("peak PSS, bot + workers (sampled sum)", mb(peaks.total_pss), TARGET_MB, "MB"),
        Row("RSS at the end, bot process", mb(peaks.last_main_rss), TARGET_MB, "MB"),
        Row("RSS at the end, bot + workers", mb(peaks.last_total_rss), TARGET_MB, "MB"),
    ]
    print(report.table(rows, "newsbot", "bound"))
    print(
        "  RSS counts pages shared by several processes (the interpreter, shared libraries) in\n"
        "  each of them; PSS divides them among the processes, so PSS adds up across them."
    )
    rows = [
        Row("peak RSS, bot process", mb(peaks.main_hwm), mb(bare["bot_rss"]), "MB"),
        Row(
            "peak RSS, largest child process",
            mb(max(peaks.child_hwm.values(), default=None)),
            mb(bare["worker_rss"]),
            "MB",
        ),
        Row(
            "added by the data: bot process",
            mb(peaks.main_hwm - bare["bot_rss"]),
            unit="MB",
            compare=False,
        ),
    ]
    print(report.section("against a bare interpreter that imported the bot"))
    print(report.table(rows, "newsbot", "imports only"))
    print("  ratio = ours / baseline.")

    print(report.section("targets"))
    size = (args.feeds, args.rules, args.stories)
    scale = "" if size == TARGET else " (at a smaller size than the target's)"
    targets = [
        Target(
            f"peak RSS under {TARGET_MB:.0f} MB, bot process",
            peaks.main_hwm / 2**20 < TARGET_MB,
            f"{mb(peaks.main_hwm):.0f} MB{scale}",
        ),
        Target(
            f"peak RSS under {TARGET_MB:.0f} MB, bot and its worker processes together",
            max(peaks.total_rss, peaks.hwm_sum) / 2**20 < TARGET_MB,
            f"{mb(peaks.total_rss):.0f} MB sampled, {mb(peaks.hwm_sum):.0f} MB sum of peaks "
            f"(PSS {mb(peaks.total_pss):.0f} MB){scale}",
        ),
    ]
    all_met = report.print_targets(targets)
    print(f"\n  total run time {time.perf_counter() - started:.1f} s")
    return 1 if args.check and not all_met else 0
