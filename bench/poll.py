"""Poll cycle: the bot polling N feeds once, against sequential feedparser and ``reader``.

Targets (from the issue), on a 2-core machine, for one cycle over 2,000 feeds of which 10% have
changed: under 15 s of wall time; under 3 ms of CPU per unchanged feed; at least 20 times faster
than sequential ``feedparser.parse(url)`` and at least 2 times faster than ``reader``'s
``update_feeds()`` on the same feeds.

The feeds come from :mod:`bench.feedserver` (a separate process, so its CPU is not ours): 50 to
200 items and 50 to 250 KB each, half of them with an ETag, a fifth with only a Last-Modified,
the rest with neither, half of them gzip-compressed. Every contender starts from the same
documents (the server restores a snapshot), polls them all once (the cold cycle: every story
new), then 10% of the feeds publish 1 to 5 stories (the same feeds and stories for everyone) and
the contender polls them all again: that second cycle is what the targets are about.

*Ours* is the bot exactly as ``newsbot run --once`` wires it (:class:`bot.app.App`, its default
polling settings, a SQLite file, the shipped rules), with delivery left out (``drain_budget=0``):
a cycle is :meth:`App.run_once`. Two more cycles measure CPU per feed: one where nothing
changed, one where every feed changed. CPU is the process's user+system time
(``getrusage(RUSAGE_SELF)``, every thread) plus that of the parser worker processes (read from
``/proc/<pid>/stat``; they live across cycles, so ``RUSAGE_CHILDREN`` would miss them), the
feed server excluded.

The baselines run in this process too, one after the other: sequential ``feedparser.parse(url)``
(its defaults; given the ETag and Last-Modified of the previous cycle, as careful scripts do;
``--feedparser-unconditional`` to leave them out) and ``reader`` (``pip install
'newsbot[bench]'``; its own SQLite file, ``update_feeds(workers=W, scheduled=False)``). They
are slow, so by default they poll the first ``--baseline-feeds`` feeds only (200 of 2,000;
changes are spread evenly, so that subset sees exactly the same 10%), and their cycle times are
scaled to all N feeds (per-feed time x N; both are linear in the number of feeds), which the
table says; ``--baseline-feeds 2000`` measures them on every feed (about 8 more minutes). The
reader's ``workers`` is the bot's ``polling.concurrency`` (threads fetching; reader parses in
the calling thread).

The feed server answers at once by default (loopback: CPU alone decides); ``--latency MS``
makes each answer wait as a network round trip would, which is where concurrency pays.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import io
import logging
import multiprocessing
import os
import pstats
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import report
from bench.feedcorpus import BLOCK
from bench.feedserver import ServerProcess
from bench.report import ROOT, Row, Target

TARGET_FEEDS = 2_000
TARGET_WALL = 15.0
TARGET_UNCHANGED_MS = 3.0
TARGET_VS_FEEDPARSER = 20.0
TARGET_VS_READER = 2.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU accounting ------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                found.extend(int(p) for p in f.read().split())
        except (OSError, ValueError):
            continue
    return found


def _proc_cpu(pid: int) -> float:
    """User+system seconds of one live process, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(exclude: Sequence[int] = ()) -> tuple[float, float]:
    """CPU seconds of this process (every thread), and of its children but ``exclude`` (and
    their own children): the live ones from /proc, the reaped ones from RUSAGE_CHILDREN."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = reaped.ru_utime + reaped.ru_stime
    pending = [p for p in _children(os.getpid()) if p not in exclude]
    while pending:
        pid = pending.pop()
        children += _proc_cpu(pid)
        pending.extend(_children(pid))
    return me.ru_utime + me.ru_stime, children


@dataclass
class Cycle:
    """One poll of every feed by one contender."""

    feeds: int
    wall: float
    cpu: float
    """CPU seconds, children (parser workers) included."""
    new_stories: int
    outcomes: Counter[str] = field(default_factory=Counter)
    server: dict[str, int] = field(default_factory=dict)
    parsed: int | None = None
    cpu_children: float = 0.0
    """Of :attr:`cpu`, the child processes' share (our parser workers)."""
    new_in_subset: int | None = None
    """New stories in the feeds the baselines poll (ours polls more of them)."""
    scale: float = 1.0
    """N / feeds polled: a baseline measured on a subset is scaled by this."""

    @property
    def wall_scaled(self) -> float:
        return self.wall * self.scale

    @property
    def cpu_ms_per_feed(self) -> float:
        return 1000 * self.cpu / self.feeds

    @property
    def feeds_per_second(self) -> float:
        return self.feeds / self.wall


def measure(
    server: ServerProcess, run: Callable[[], tuple[int, Counter[str], int | None]], feeds: int
) -> Cycle:
    server.reset()
    own0, kids0 = cpu_seconds([server.pid])
    t0 = time.perf_counter()
    new, outcomes, parsed = run()
    wall = time.perf_counter() - t0
    own, kids = cpu_seconds([server.pid])
    cpu = own + kids - own0 - kids0
    return Cycle(feeds, wall, cpu, new, outcomes, server.stats(), parsed, kids - kids0)


# -- ours ------------------------------------------------------------------------------------


def _config(server: ServerProcess, tmp: Path, count: int, concurrency: int | None = None) -> Any:
    from bot.config import Config

    data = {
        "storage": {"url": f"sqlite:///{tmp / 'newsbot.db'}"},
        "rules_dir": str(ROOT / "rules"),
        "log_level": "WARNING",
        "polling": {} if concurrency is None else {"concurrency": concurrency},
        "feeds": [
            {"name": f"feed-{i:05d}", "url": server.url(i), "tags": ["bench"]} for i in range(count)
        ],
    }
    return Config.model_validate(data).model_copy(update={"base_dir": tmp})


def run_ours(
    server: ServerProcess,
    count: int,
    changed: float,
    tmp: Path,
    profile: str | None,
    subset: int,
    concurrency: int | None = None,
) -> dict[str, Cycle]:
    """Our four cycles; each Cycle's ``new_in_subset`` counts the new stories of the first
    ``subset`` feeds, the ones the baselines poll."""
    from bot.app import App, Options

    config = _config(server, tmp, count, concurrency)
    cycles: dict[str, Cycle] = {}

    async def main() -> None:
        app = await App.create(config, Options(console=io.StringIO(), drain_budget=0))
        try:

            async def one(name: str) -> None:
                prof = cProfile.Profile() if profile == name else None
                server.reset()
                before = app.parser.parsed
                own0, kids0 = cpu_seconds([server.pid])
                t0 = time.perf_counter()
                if prof is not None:
                    prof.enable()
                results = await app.run_once()
                if prof is not None:
                    prof.disable()
                wall = time.perf_counter() - t0
                own, kids = cpu_seconds([server.pid])
                outcomes = Counter(r.outcome for r in results)
                outcomes["alerts queued"] = sum(r.deliveries for r in results)
                failed = [r for r in results if r.outcome == "failed"]
                if failed:
                    print(f"  WARNING: {len(failed)} polls failed, e.g. {failed[0].error}")
                cycles[name] = Cycle(
                    count,
                    wall,
                    own + kids - own0 - kids0,
                    sum(r.new_stories for r in results),
                    outcomes,
                    server.stats(),
                    app.parser.parsed - before,
                    kids - kids0,
                )
                cycles[name].new_in_subset = sum(
                    r.new_stories for r in results if int(r.feed.split("-")[1]) < subset
                )
                if prof is not None:
                    print(report.section(f"profile: our {name} cycle (event loop process only)"))
                    stats = pstats.Stats(prof, stream=sys.stdout).strip_dirs()
                    stats.sort_stats("cumulative").print_stats(40)
                    stats.sort_stats("tottime").print_stats(30)

            await one("cold")
            server.change(changed, 1)
            await one("changed")
            await one("none")
            server.change(1.0, 2)
            await one("all")
        finally:
            await app.close()

    asyncio.run(main())
    # The parser workers were told to stop; wait for them, so that their last CPU seconds are
    # not counted as the next contender's (reaped children count in RUSAGE_CHILDREN).
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cycles


# -- baselines -------------------------------------------------------------------------------


def run_feedparser(
    server: ServerProcess, count: int, changed: float, conditional: bool
) -> dict[str, Cycle]:
    import feedparser

    urls = [server.url(i) for i in range(count)]
    validators: dict[str, tuple[str | None, str | None]] = {}
    seen: set[tuple[str, str]] = set()

    def cycle() -> tuple[int, Counter[str], int | None]:
        new = 0
        outcomes: Counter[str] = Counter()
        for url in urls:
            etag, modified = validators.get(url, (None, None)) if conditional else (None, None)
            parsed = feedparser.parse(url, etag=etag, modified=modified)
            status = parsed.get("status")
            outcomes[str(status)] += 1
            validators[url] = (parsed.get("etag"), parsed.get("modified"))
            for entry in parsed.entries:
                key = (url, entry.get("id") or entry.get("link") or entry.get("title", ""))
                if key not in seen:
                    seen.add(key)
                    new += 1
        return new, outcomes, None

    cycles = {"cold": measure(server, cycle, count)}
    server.change(changed, 1)
    cycles["changed"] = measure(server, cycle, count)
    return cycles


def _default_parse_workers() -> int:
    from bot.app import Options

    return Options().parse_workers


def run_reader(
    server: ServerProcess, count: int, changed: float, tmp: Path, workers: int
) -> dict[str, Cycle]:
    from reader import make_reader

    logging.getLogger("reader").setLevel(logging.ERROR)
    reader = make_reader(str(tmp / "reader.sqlite"))
    try:
        for i in range(count):
            reader.add_feed(server.url(i))

        def cycle() -> tuple[int, Counter[str], int | None]:
            new = 0
            outcomes: Counter[str] = Counter()
            for result in reader.update_feeds_iter(scheduled=False, workers=workers):
                value = result.value
                if isinstance(value, Exception):
                    outcomes["error"] += 1
                elif value is None:
                    outcomes["not modified"] += 1
                else:
                    outcomes["updated" if value.total else "no entries changed"] += 1
                    new += value.new
            return new, outcomes, None

        cycles = {"cold": measure(server, cycle, count)}
        server.change(changed, 1)
        cycles["changed"] = measure(server, cycle, count)
    finally:
        reader.close()
    return cycles


# -- the benchmark ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench poll", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--feeds", type=int, help="feeds served and polled (2,000; quick 60)")
    p.add_argument(
        "--baseline-feeds",
        type=int,
        help="feeds the baselines poll, a multiple of 100 or all (200; quick: all)",
    )
    p.add_argument("--changed", type=float, default=0.1, help="share of feeds that change")
    p.add_argument(
        "--concurrency", type=int, help="override the app's polling.concurrency (its default)"
    )
    p.add_argument("--reader-workers", type=int, help="reader's update_feeds(workers=...)")
    p.add_argument(
        "--feedparser-unconditional",
        action="store_true",
        help="do not give feedparser the previous ETag and Last-Modified",
    )
    p.add_argument("--no-reader", action="store_true", help="skip the reader baseline")
    p.add_argument("--no-feedparser", action="store_true", help="skip the feedparser baseline")
    p.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="milliseconds the feed server waits before each answer, as a network would (0)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--synthetic", action="store_true", help="synthetic text, not the corpus")
    p.add_argument("--quick", action="store_true", help="a run of under 30 s")
    p.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    p.add_argument(
        "--profile",
        choices=("cold", "changed", "none", "all"),
        help="cProfile one of our cycles (the event loop's process only)",
    )
    args = p.parse_args(list(argv))
    if args.feeds is None:
        args.feeds = 60 if args.quick else TARGET_FEEDS
    if args.baseline_feeds is None:
        args.baseline_feeds = args.feeds if args.quick else 2 * BLOCK
    args.baseline_feeds = min(args.baseline_feeds, args.feeds)
    if args.feeds < 1 or args.baseline_feeds < 1 or not 0 < args.changed <= 1:
        p.error("--feeds and --baseline-feeds must be positive, --changed in (0, 1]")
    if args.baseline_feeds != args.feeds and args.baseline_feeds % BLOCK:
        p.error(f"--baseline-feeds must be a multiple of {BLOCK} or all the feeds")
    return args


def _default_concurrency() -> int:
    from bot.config import PollingSettings

    return PollingSettings().concurrency


def _cycle_rows(label: str, ours: Cycle, base: Cycle) -> list[Row]:
    scaled = " (scaled)" if base.scale != 1 else ""
    return [
        Row(f"{label}: wall time{scaled}", ours.wall, base.wall_scaled, "s"),
        Row(f"{label}: feeds per second", ours.feeds_per_second, base.feeds_per_second),
        Row(f"{label}: CPU per feed", ours.cpu_ms_per_feed, base.cpu_ms_per_feed, "ms"),
        Row(f"{label}: new stories found", ours.new_stories, None, compare=False),
        Row(
            f"{label}: ... in the {base.feeds:,} feeds both poll",
            ours.new_stories if ours.new_in_subset is None else ours.new_in_subset,
            base.new_stories,
            compare=False,
        ),
    ]


def _describe(name: str, cycles: dict[str, Cycle]) -> None:
    for key, cycle in cycles.items():
        served = ", ".join(f"{k} {v:,}" for k, v in sorted(cycle.server.items()) if k != "bytes")
        outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(cycle.outcomes.items()))
        parsed = f"; bodies parsed {cycle.parsed:,}" if cycle.parsed is not None else ""
        if cycle.cpu_children:
            parsed += f"; CPU in parser workers {cycle.cpu_children:.2f} s"
        print(
            f"  {name:<10} {key:<8} {cycle.feeds:>5,} feeds  {cycle.wall:7.2f} s wall  "
            f"{cycle.cpu:7.2f} s CPU  server: {served}, "
            f"{cycle.server.get('bytes', 0) / 2**20:,.0f} MB sent; {outcomes}{parsed}"
        )


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report.print_header("poll")
    concurrency = args.concurrency or _default_concurrency()
    workers = args.reader_workers or concurrency

    print(report.section("feeds"))
    t0 = time.perf_counter()
    with (
        ServerProcess(
            args.feeds, args.seed, synthetic=args.synthetic, latency=args.latency / 1000
        ) as server,
        tempfile.TemporaryDirectory(prefix="bench-poll-") as tmpdir,
    ):
        info = server.info
        validators = ", ".join(f"{v} {k}" for k, v in sorted(info["validators"].items()))
        report.print_facts(
            [
                (
                    "server",
                    f"{server.base} (pid {server.pid}), ready in {time.perf_counter() - t0:.1f} s",
                ),
                (
                    "feeds",
                    f"{info['feeds']:,}: {info['atom']:,} Atom, the rest RSS 2.0; "
                    f"{info['ttl']:,} with an RSS <ttl>",
                ),
                (
                    "size",
                    f"{info['kb_min']:.0f} / {info['kb_median']:.0f} / "
                    f"{info['kb_max']:.0f} KB (min / median / max), {info['mb_total']:,.0f} MB",
                ),
                (
                    "items",
                    f"{info['items_min']} / {info['items_median']:.0f} / "
                    f"{info['items_max']} per feed; {info['non_ascii_items']:.0%} of items "
                    "have non-ASCII text",
                ),
                ("caching", f"validators: {validators}; {info['gzip']:,} gzip-compressed"),
                ("text", info["text"]),
                ("changes", f"{args.changed:.0%} of feeds publish 1-5 stories between cycles"),
                (
                    "latency",
                    f"{args.latency:g} ms before each answer"
                    + (" (loopback: CPU alone decides)" if not args.latency else ""),
                ),
            ]
        )
        tmp = Path(tmpdir)
        server.snapshot()
        ours = run_ours(
            server,
            args.feeds,
            args.changed,
            tmp,
            args.profile,
            args.baseline_feeds,
            args.concurrency,
        )
        baselines: dict[str, dict[str, Cycle]] = {}
        scale = args.feeds / args.baseline_feeds
        if not args.no_feedparser:
            server.restore()
            baselines["feedparser"] = run_feedparser(
                server, args.baseline_feeds, args.changed, not args.feedparser_unconditional
            )
        if not args.no_reader and importlib.util.find_spec("reader") is None:
            print("  WARNING: reader is not installed (pip install -e '.[bench]'); no reader row")
        elif not args.no_reader:
            server.restore()
            baselines["reader"] = run_reader(
                server, args.baseline_feeds, args.changed, tmp, workers
            )
        for cycles in baselines.values():
            for cycle in cycles.values():
                cycle.scale = scale

    print(report.section("what each cycle did"))
    _describe("ours", ours)
    for name, cycles in baselines.items():
        _describe(name, cycles)

    subset = (
        ""
        if scale == 1
        else f" (baselines measured on the first {args.baseline_feeds:,} feeds; their wall "
        f"times scaled x{scale:g} to {args.feeds:,} feeds)"
    )
    targets: list[Target] = []
    changed, cold = ours["changed"], ours["cold"]
    print(report.section(f"results: {args.feeds:,} feeds, {args.changed:.0%} changed{subset}"))
    report.print_facts(
        [
            (
                "ours",
                f"bot.app.App.run_once (polling.concurrency {concurrency}, parser "
                f"workers {_default_parse_workers()}, the default here), SQLite file, "
                "shipped rules, delivery left out",
            ),
            (
                "feedparser",
                "sequential feedparser.parse(url), its defaults; "
                + (
                    "ETag and Last-Modified of the previous cycle passed (etag=, modified=)"
                    if not args.feedparser_unconditional
                    else "no ETag or Last-Modified passed"
                ),
            ),
            (
                "reader",
                f"reader {_reader_version()}: update_feeds(workers={workers}, "
                "scheduled=False), its own SQLite file",
            ),
            (
                "CPU",
                "user+system seconds of this process (all threads) and of the parser "
                "worker processes, the feed server excluded; per feed = cycle CPU / feeds",
            ),
        ]
    )
    ratios: dict[str, float] = {}
    for name, cycles in baselines.items():
        rows = _cycle_rows(f"{args.changed:.0%} changed", changed, cycles["changed"])
        rows += _cycle_rows("cold (all new)", cold, cycles["cold"])
        print()
        print(report.table(rows, "ours", name))
        ratios[name] = cycles["changed"].wall_scaled / changed.wall
    print()
    unchanged_ms = ours["none"].cpu_ms_per_feed
    print(
        report.table(
            [
                Row("CPU per unchanged feed (0% changed cycle)", unchanged_ms, unit="ms"),
                Row(
                    "CPU per changed feed (100% changed cycle)",
                    ours["all"].cpu_ms_per_feed,
                    unit="ms",
                ),
                Row("wall time, 0% changed", ours["none"].wall, unit="s"),
                Row("wall time, 100% changed", ours["all"].wall, unit="s"),
            ],
            "ours",
            "-",
        )
    )
    print(
        "  ratio = ours / baseline: below 1x for times, the speed-up for feeds per second.\n"
        "  CPU per unchanged feed: a cycle where no feed changed (304s and same-body 200s);\n"
        "  per changed feed: a cycle where every feed published new stories."
    )

    print(report.section("targets"))
    scale_note = (
        "" if args.feeds == TARGET_FEEDS else f" (at {args.feeds:,} feeds; the target is for 2,000)"
    )
    targets.append(
        Target(
            f"{args.changed:.0%}-changed cycle under {TARGET_WALL:g} s wall",
            changed.wall < TARGET_WALL,
            f"{changed.wall:.2f} s{scale_note}",
        )
    )
    targets.append(
        Target(
            f"unchanged feed under {TARGET_UNCHANGED_MS:g} ms CPU",
            unchanged_ms < TARGET_UNCHANGED_MS,
            f"{unchanged_ms:.2f} ms",
        )
    )
    for name, goal in (("feedparser", TARGET_VS_FEEDPARSER), ("reader", TARGET_VS_READER)):
        if name in ratios:
            targets.append(
                Target(
                    f">= {goal:g}x faster than {name} ({args.changed:.0%} changed)",
                    ratios[name] >= goal,
                    f"{ratios[name]:.1f}x{scale_note}",
                )
            )
    all_met = report.print_targets(targets)
    print(f"\n  total run time {time.perf_counter() - started:.1f} s")
    return 1 if args.check and not all_met else 0


def _reader_version() -> str:
    try:
        from importlib.metadata import version

        return version("reader")
    except Exception:  # only for the report
        return "?"
