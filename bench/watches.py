"""Personal watches: 100,000 watches next to 1,000 file rules, against the file rules alone.

Targets (from the issue): with 100,000 watches of 1 to 5 terms next to 1,000 file rules, at
least 5,000 stories/s on one core; compiling one new watch into the matcher in force under
50 ms; the memory the watches take under 150 MB. The baseline is the same matcher with the file
rules only, on the same stories in the same run.

The file rules are those of the matching benchmark (:mod:`bench.rulegen`, ``any`` lists of 3
to 8 terms). The watches are what people type: 1 to 5 terms drawn from the corpus (names,
rarer words, two-word phrases, wildcards, exact acronyms), ORed, or one term ANDed with an OR
of the others, seeded apart from the rules. Stories are the corpus's, ~1,500 characters, as in
the matching benchmark. A new watch is compiled with :meth:`RuleBook.put_watch` into the
matcher in force, its word caches warm from matching, and the matcher is checked afterwards
against one compiled afresh. Memory is measured in fresh subprocesses (``--memory-probe``):
tracemalloc and RSS for the rule book with the file rules alone and with the watches too.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from statistics import median, quantiles

from bench import corpus as corpora
from bench import report, rulegen
from bench.matching import _status, time_ours
from bench.report import ROOT, Row, Target
from bot.core.models import Story
from bot.core.rules import Matcher, Rule, RuleBook, RuleError
from bot.core.watches import check_query, watch_rule

TARGET_RATE = 5_000
TARGET_COMPILE_MS = 50.0
TARGET_MB = 150.0
MB = 1024 * 1024
_OPERATORS = {"and", "or", "not", "near", "onear"}


def watches(vocab: rulegen.Vocabulary, count: int, seed: int, start: int = 0) -> list[Rule]:
    """``count`` watch rules of 1 to 5 terms each, numbered from ``start``."""
    return [watch_rule(*row) for row in watch_rows(vocab, count, seed, start)]


def watch_rows(
    vocab: rulegen.Vocabulary, count: int, seed: int, start: int = 0
) -> list[tuple[int, str, str]]:
    """(number, chat, query) of ``count`` watches, as the bot reads them from its store."""
    rng = random.Random(seed)
    # What people watch: names, places, phrases, rarer words (not everyday words).
    kinds = ["name", "phrase", "low word", "wildcard", "exact"]
    weights = [40, 25, 20, 10, 5]
    out: list[tuple[int, str, str]] = []
    number = start
    while len(out) < count:
        terms: list[str] = []
        for _ in range(rng.randint(1, 5)):
            term = rulegen._draw(rng.choices(kinds, weights)[0], vocab, rng)
            if term is None or any(w.lower() in _OPERATORS for w in term.lstrip("=").split()):
                continue
            terms.append(f'"{term}"' if " " in term else term)
        if not terms:
            continue
        if len(terms) > 2 and rng.random() < 0.25:
            query = f"{terms[0]} AND ({' OR '.join(terms[1:])})"
        else:
            query = " OR ".join(terms)
        try:
            query = check_query(query)
        except RuleError:
            continue
        out.append((number, str(10_000 + number % 5_000), query))
        number += 1
    return out


def memory_probe(mode: str, path: str) -> int:
    """In a fresh process: build the rule book (``rules`` or ``watches`` mode, ``:traced``
    under tracemalloc) from the file rules and watch rows in ``path`` (as the store would
    return them) and print what it retains. RSS is read in the untraced runs (tracemalloc's
    records of every block would count too) and in a process that loaded nothing else."""
    mode, _, traced = mode.partition(":")
    with open(path, "rb") as f:
        raw = f.read()
    gc.collect()
    rss_before = _status("VmRSS")
    if traced:
        tracemalloc.start()
    spec = json.loads(raw)
    del raw
    rules = [Rule(id=i, title=t, any=tuple(a)) for i, t, a in spec["rules"]]
    if mode == "watches":
        book = RuleBook(rules, watches=[watch_rule(n, c, q) for n, c, q in spec["rows"]])
    else:
        book = RuleBook(rules)
    del spec
    gc.collect()
    rss_after = _status("VmRSS")
    current, peak = tracemalloc.get_traced_memory() if traced else (0, 0)
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "traced": current,
                "peak": peak,
                "rss_delta": (rss_after - rss_before) if rss_after and rss_before else None,
                "rules": len(book.matcher.rules),
            }
        )
    )
    return 0


def measure_memory(
    rules: Sequence[Rule], rows: Sequence[tuple[int, str, str]]
) -> dict[str, dict[str, float | None]]:
    spec = {"rules": [(r.id, r.title, r.any) for r in rules], "rows": list(rows)}
    out: dict[str, dict[str, float | None]] = {}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        for mode in ("rules", "watches", "rules:traced", "watches:traced"):
            result = subprocess.run(
                [sys.executable, "-m", "bench", "watches", "--memory-probe", mode, f.name],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONHASHSEED": "0"},
                check=True,
            )
            out[mode] = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        os.unlink(f.name)
    return out


def time_compiles(book: RuleBook, new: Sequence[Rule], stories: Sequence[Story]) -> list[float]:
    """Milliseconds to put each new watch in force, with a few stories matched in between
    (so that the word caches are as warm as in a running bot)."""
    took = []
    for k, rule in enumerate(new):
        for story in stories[k * 5 % len(stories) :][:5]:
            book.matcher.match(story)
        t0 = time.perf_counter()
        book.put_watch(rule)
        took.append((time.perf_counter() - t0) * 1000)
    return took


def _mb(value: float | None) -> float | None:
    return None if value is None else value / MB


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench watches", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--watches", type=int, help="watches (default 100,000; quick 20,000)")
    p.add_argument("--rules", type=int, default=1_000, help="file rules (default 1,000)")
    p.add_argument("--stories", type=int, help="stories of ~1,500 chars (default 3,000)")
    p.add_argument("--new", type=int, default=300, help="new watches compiled one by one")
    p.add_argument("--min-time", type=float, help="seconds of matching, at least (3; quick 1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="a run of under 30 s")
    p.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    p.add_argument(
        "--corpus", type=Path, help=f"headlines JSON lines (default {corpora.DEFAULT_CORPUS})"
    )
    p.add_argument("--synthetic", action="store_true", help="use the synthetic corpus")
    p.add_argument("--memory-probe", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = p.parse_args(list(argv))
    if args.watches is None:
        args.watches = 20_000 if args.quick else 100_000
    if args.stories is None:
        args.stories = 1_000 if args.quick else 3_000
    if args.min_time is None:
        args.min_time = 1.0 if args.quick else 3.0
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        return memory_probe(*args.memory_probe)
    report.print_header("watches")
    print(report.section("corpus, rules and watches"))
    corpus = corpora.load(args.corpus, synthetic=args.synthetic, seed=args.seed)
    texts = corpora.stories(corpus, args.stories, args.seed)
    stories = [
        Story(feed="bench", key=f"s{k}", title=s.title, summary=s.body) for k, s in enumerate(texts)
    ]
    # Also items as feeds carry them: one record (title and summary) each, not padded.
    rng = random.Random(args.seed + 3)
    picked = rng.sample(corpus.records, min(len(corpus.records), args.stories))
    items = [
        Story(feed="bench", key=f"i{k}", title=title, summary=summary)
        for k, (title, summary) in enumerate(picked)
    ]
    vocab = rulegen.vocabulary(corpus, args.seed)
    rules = rulegen.rules(vocab, args.rules, args.seed)
    rows = watch_rows(vocab, args.watches, args.seed + 1)
    made = [watch_rule(*row) for row in rows]
    new = watches(vocab, args.new, args.seed + 2, start=args.watches)
    sizes = [q.count(" OR ") + q.count(" AND ") + 1 for q in (w.query or "" for w in made)]
    item_chars = sum(len(i.title) + len(i.summary) for i in items) / max(1, len(items))
    report.print_facts(
        [
            ("corpus", corpus.description),
            ("stories", f"{len(stories):,} of ~{corpora.STORY_LENGTH:,} characters"),
            ("feed items", f"{len(items):,}, {item_chars:.0f} characters on average"),
            ("file rules", f"{len(rules):,} (any-lists of 3 to 8 terms)"),
            ("watches", f"{len(made):,}, {sum(sizes) / len(sizes):.1f} terms on average"),
            ("example watches", "; ".join(w.query or "" for w in made[:4])),
        ]
    )

    gc.collect()
    t0 = time.perf_counter()
    alone = RuleBook(rules)
    build_alone = time.perf_counter() - t0
    base = time_ours(alone.matcher, stories, args.min_time)
    base_items = time_ours(alone.matcher, items, args.min_time / 2)
    del alone
    gc.collect()
    t0 = time.perf_counter()
    book = RuleBook(rules, watches=made)
    build = time.perf_counter() - t0
    ours = time_ours(book.matcher, stories, args.min_time)
    ours_items = time_ours(book.matcher, items, args.min_time / 2)
    took = time_compiles(book, new, stories)
    # The matcher changed in place must decide as one compiled afresh.
    fresh = Matcher([*rules, *made, *new])
    differ = sum(
        [m.rule_id for m in book.matcher.match(s)] != [m.rule_id for m in fresh.match(s)]
        for s in stories[:500]
    )
    memory = measure_memory(rules, rows)
    traced_w, traced_r = (
        memory["watches:traced"]["traced"] or 0,
        memory["rules:traced"]["traced"] or 0,
    )
    watched = {"traced": traced_w - traced_r}
    rss = None
    if memory["watches"]["rss_delta"] is not None and memory["rules"]["rss_delta"] is not None:
        rss = (memory["watches"]["rss_delta"] or 0) - (memory["rules"]["rss_delta"] or 0)

    print(report.section("results"))
    p99 = quantiles(took, n=100)[98] if len(took) >= 2 else took[0]
    rows = [
        Row("stories/s", ours.rate, base.rate),
        Row("stories/s, first pass (cold caches)", ours.cold_rate, base.cold_rate),
        Row("matches per story", ours.matches / len(stories), base.matches / len(stories)),
        Row("feed items/s (one title and summary each)", ours_items.rate, base_items.rate),
        Row(
            "matches per feed item",
            ours_items.matches / len(items),
            base_items.matches / len(items),
        ),
        Row("build time, all at once (s)", build, build_alone),
        Row("compile one new watch, median (ms)", median(took), compare=False),
        Row("compile one new watch, p99 (ms)", p99, compare=False),
        Row("compile one new watch, max (ms)", max(took), compare=False),
        Row(
            "memory: rule book, tracemalloc",
            _mb(traced_w),
            _mb(traced_r),
            unit="MB",
        ),
        Row(
            "memory: rule book, RSS delta (untraced run)",
            _mb(memory["watches"]["rss_delta"]),
            _mb(memory["rules"]["rss_delta"]),
            unit="MB",
        ),
        Row("memory of the watches, tracemalloc", _mb(watched["traced"]), unit="MB", compare=False),
        Row("memory of the watches, RSS", _mb(rss), unit="MB", compare=False),
        Row("stories deciding otherwise than a fresh matcher", differ, compare=False),
    ]
    print(report.table(rows, f"with {len(made):,} watches", "file rules only"))
    full = args.watches >= 100_000 and args.rules >= 1_000
    watch_mb = _mb(watched["traced"]) or 0.0
    targets = [
        Target(
            f"at least {TARGET_RATE:,} stories/s with the watches",
            ours.rate >= TARGET_RATE and full,
            f"{ours.rate:,.0f} stories/s ({ours.rate / base.rate:.2f} x the file rules alone)"
            + ("" if full else "; not the full 100,000 watches"),
        ),
        Target(
            f"one new watch compiled in under {TARGET_COMPILE_MS:.0f} ms",
            max(took) < TARGET_COMPILE_MS and full,
            f"max {max(took):.1f} ms, p99 {p99:.1f} ms, median {median(took):.2f} ms "
            f"over {len(took)} watches",
        ),
        Target(
            f"the watches take under {TARGET_MB:.0f} MB",
            watch_mb < TARGET_MB and (rss is None or (_mb(rss) or 0) < TARGET_MB) and full,
            f"{watch_mb:.1f} MB traced"
            + (f", {_mb(rss) or 0:.1f} MB RSS (without tracemalloc)" if rss is not None else ""),
        ),
        Target("the changed matcher agrees with a fresh one", differ == 0, f"{differ} differ"),
    ]
    print(report.section("targets"))
    met = report.print_targets(targets)
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
