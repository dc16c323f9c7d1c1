"""Parse: stories per second through the bot's parse path against feedparser's defaults.

Our path is :func:`bot.feeds.parse.parse_feed` (feedparser with its HTML sanitizer and
relative-URI resolver off, our own HTML-to-text, :class:`Story` records), on one core, and then
as the bot runs it, through :class:`bot.feeds.parse.ParserPool` (worker processes, one per core,
results sent back to the event loop's process). The baseline is ``feedparser.parse(body)`` with
its defaults, on one core: what a script or another feed reader does. A third row shows
feedparser alone with the slow paths off, to tell feedparser's share of our time from ours.

The issue sets no number for this one; the targets checked are that our path beats feedparser's
defaults core for core, and that the worker pool really uses both cores.

Feeds: the generated corpus of :mod:`bench.feedcorpus` (50 to 200 items, 50 to 250 KB, HTML
summaries, real headlines), and, when the workspace's shared corpus is there, its real captured
feed files too (``../shared/corpus/feeds``; read in place, never copied).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import report
from bench.corpus import load as load_text
from bench.feedcorpus import FeedCorpus
from bench.report import ROOT, Row, Target

REAL_FEEDS = ROOT.parent / "shared" / "corpus" / "feeds"
MIN_POOL_SPEEDUP = 1.5
"""Two workers on two cores: at least this times one core (pickling and the loop cost some)."""


@dataclass(frozen=True, slots=True)
class Doc:
    name: str
    body: bytes
    url: str
    content_type: str | None


@dataclass(frozen=True, slots=True)
class Rate:
    stories: int
    seconds: float
    passes: int

    @property
    def per_second(self) -> float:
        return self.stories / self.seconds


def timed(docs: Sequence[Doc], parse: Callable[[Doc], int], min_time: float) -> Rate:
    """Parse every document, again and again until ``min_time`` seconds have passed (at least
    one whole pass); ``parse`` returns the number of stories it read."""
    stories = passes = 0
    start = time.perf_counter()
    while True:
        for doc in docs:
            stories += parse(doc)
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return Rate(stories, elapsed, passes)


def timed_pool(docs: Sequence[Doc], workers: int, min_time: float) -> Rate:
    """The same through the bot's ParserPool, ``workers`` processes, 2 x workers parses in
    flight (as the pipeline keeps them); the pool's start-up is left out."""
    from bot.feeds.parse import ParserPool

    async def run() -> Rate:
        pool = ParserPool(workers)
        try:
            # Start the workers and import feedparser in each before the clock starts.
            await asyncio.gather(*(pool.parse("w", d.body, d.url, None) for d in docs[:workers]))
            slots = asyncio.Semaphore(2 * workers)

            async def one(doc: Doc) -> int:
                async with slots:
                    parsed = await pool.parse(doc.name, doc.body, doc.url, doc.content_type)
                    return len(parsed.stories)

            stories = passes = 0
            start = time.perf_counter()
            while True:
                stories += sum(await asyncio.gather(*(one(d) for d in docs)))
                passes += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_time:
                    return Rate(stories, elapsed, passes)
        finally:
            pool.close()

    return asyncio.run(run())


def generated(count: int, seed: int, synthetic: bool) -> tuple[list[Doc], str]:
    corpus = FeedCorpus(count, seed, load_text(synthetic=synthetic, seed=seed))
    docs = [
        Doc(
            f.name,
            corpus.body(f.index),
            f"https://news{f.index % 97}.example.org/{f.name}.xml",
            "application/atom+xml" if f.kind == "atom" else "application/rss+xml",
        )
        for f in corpus.feeds
    ]
    return docs, corpus.text.description


def real(limit: int | None) -> list[Doc]:
    if not REAL_FEEDS.is_dir():
        return []
    from bot.core.errors import ParseError
    from bot.feeds.parse import parse_feed

    paths = sorted(p for p in REAL_FEEDS.iterdir() if p.is_file() and p.suffix != ".tsv")
    docs = []
    for path in paths:
        doc = Doc(path.name, path.read_bytes(), f"https://example.org/{path.name}", None)
        try:  # a few files are deliberately not feeds (parser tests): leave them out
            parse_feed(doc.name, doc.body, doc.url)
        except ParseError:
            continue
        docs.append(doc)
    return docs[:limit] if limit else docs


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench parse", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--feeds", type=int, help="generated feeds (default 100; quick 20)")
    p.add_argument("--min-time", type=float, help="seconds per measurement (default 5; quick 1)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--synthetic", action="store_true", help="synthetic text, not the corpus")
    p.add_argument("--no-real", action="store_true", help="leave out the shared real feeds")
    p.add_argument("--quick", action="store_true", help="a run of under 30 s")
    p.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    args = p.parse_args(list(argv))
    if args.feeds is None:
        args.feeds = 20 if args.quick else 100
    if args.min_time is None:
        args.min_time = 1.0 if args.quick else 5.0
    if args.feeds < 1 or args.min_time <= 0 or args.workers < 1:
        p.error("--feeds, --min-time and --workers must be positive")
    return args


def measure(name: str, docs: Sequence[Doc], args: argparse.Namespace) -> tuple[Rate, ...]:
    import feedparser

    from bot.feeds.parse import parse_feed

    def ours(doc: Doc) -> int:
        return len(parse_feed(doc.name, doc.body, doc.url, doc.content_type).stories)

    def defaults(doc: Doc) -> int:
        return len(feedparser.parse(doc.body).entries)

    def fast(doc: Doc) -> int:
        parsed = feedparser.parse(doc.body, sanitize_html=False, resolve_relative_uris=False)
        return len(parsed.entries)

    ours(docs[0])  # imports and first-use caches, out of the measurement
    defaults(docs[0])
    rates = (
        timed(docs, ours, args.min_time),
        timed_pool(docs, args.workers, args.min_time),
        timed(docs, defaults, args.min_time),
        timed(docs, fast, args.min_time),
    )
    one, pool, base, bare = rates
    size = sum(len(d.body) for d in docs)
    print(report.section(f"{name}: {len(docs):,} feeds, {size / 2**20:,.1f} MB"))
    print(
        report.table(
            [
                Row("stories/s, one core", one.per_second, base.per_second),
                Row(
                    f"stories/s, ParserPool ({args.workers} workers)",
                    pool.per_second,
                    base.per_second,
                ),
                Row(
                    "ms per feed, one core",
                    1000 * one.seconds / (one.passes * len(docs)),
                    1000 * base.seconds / (base.passes * len(docs)),
                    "ms",
                ),
                Row(
                    "stories per pass",
                    one.stories // one.passes,
                    base.stories // base.passes,
                    compare=False,
                ),
                Row(
                    "feedparser alone, slow paths off: stories/s", bare.per_second, base.per_second
                ),
            ],
            "ours (parse_feed)",
            "feedparser defaults",
        )
    )
    print(
        f"  feedparser alone (slow paths off) takes {1 / bare.per_second * 1e6:,.0f} us per "
        f"story, ours {1 / one.per_second * 1e6:,.0f} us: the difference is our HTML-to-text "
        "and Story records."
    )
    return rates


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report.print_header("parse")
    docs, text = generated(args.feeds, args.seed, args.synthetic)
    print(report.section("feeds"))
    items = sum(d.body.count(b"<item>") + d.body.count(b"<entry>") for d in docs)
    report.print_facts(
        [
            ("generated", f"{len(docs):,} feeds, {items:,} items (seed {args.seed}); {text}"),
            ("real", f"{REAL_FEEDS}" if REAL_FEEDS.is_dir() and not args.no_real else "not used"),
            (
                "timing",
                f"each figure at least {args.min_time:g} s of parsing; ratio = ours / "
                "feedparser defaults (one core); the pool row uses every worker",
            ),
        ]
    )
    gen = measure("generated feeds", docs, args)
    targets = [
        Target(
            "our parse path beats feedparser's defaults (one core each)",
            gen[0].per_second >= gen[2].per_second,
            f"{gen[0].per_second:,.0f} vs {gen[2].per_second:,.0f} stories/s "
            f"({gen[0].per_second / gen[2].per_second:.2f}x)",
        ),
    ]
    if args.workers > 1 and (os.cpu_count() or 1) > 1:
        speedup = gen[1].per_second / gen[0].per_second
        targets.append(
            Target(
                f"ParserPool with {args.workers} workers >= {MIN_POOL_SPEEDUP}x one core",
                speedup >= MIN_POOL_SPEEDUP,
                f"{speedup:.2f}x",
            )
        )
    real_docs = [] if args.no_real else real(20 if args.quick else None)
    if real_docs:
        got = measure("real feeds (shared corpus)", real_docs, args)
        targets.append(
            Target(
                "... on the real feeds too",
                got[0].per_second >= got[2].per_second,
                f"{got[0].per_second / got[2].per_second:.2f}x",
            )
        )
    print(report.section("targets"))
    all_met = report.print_targets(targets)
    print(f"\n  total run time {time.perf_counter() - started:.1f} s")
    return 1 if args.check and not all_met else 0
