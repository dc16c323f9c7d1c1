"""Rule matching: stories/s of the compiled Matcher against one regular expression per rule.

Targets (from the issue), at 10,000 rules and 1,500-character stories: at least 5,000 stories
per second on one core; at least 1,000 times the throughput of the naive loop (one compiled
regular expression per rule, each searched in every story) on the same corpus in the same run;
under 50 MB of memory for the compiled rules.

Both engines run the same ``any``-list rules (:mod:`bench.rulegen`) over the same stories
(:mod:`bench.corpus`). The naive engine compiles, per rule, an alternation of its terms with
Unicode word boundaries and ``re.IGNORECASE``: phrase words joined by ``[\\W_]+``, a wildcard as
``\\w*``, an exact term case-sensitive in ``(?-i:...)``. It is slow, so it is timed on a small
sample of stories, on which both engines' decisions are also compared. Memory is measured in
fresh subprocesses (``--memory-probe``): tracemalloc around the build, and the process's RSS
before and after it.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from bench import corpus as corpora
from bench import report, rulegen
from bench.report import ROOT, Row, Target
from bot.core.models import Match, Story
from bot.core.rules import Matcher, Rule

TARGET_RATE = 5_000
TARGET_RATIO = 1_000
TARGET_MB = 50.0
TARGET_RULES = 10_000
MIN_AGREEMENT = 0.95
MB = 1024 * 1024


# -- the naive baseline ----------------------------------------------------------------------

_SEP = r"[\W_]+"
_PIECE_WORDS = re.compile(r"[^\W_]+")


def naive_term(term: str) -> str:
    """The regular expression of one list term, as a rule author would write it by hand."""
    exact = term.startswith("=")
    text = term[1:] if exact else term
    parts = []
    for piece in text.split():
        found = _PIECE_WORDS.findall(piece.rstrip("*"))
        if found:
            parts.append(_SEP.join(map(re.escape, found)) + (r"\w*" if piece.endswith("*") else ""))
    body = rf"\b{_SEP.join(parts)}\b"
    return f"(?-i:{body})" if exact else body


def naive_compile(rules: Sequence[Rule]) -> list[tuple[str, re.Pattern[str]]]:
    """One compiled alternation per rule."""
    return [
        (rule.id, re.compile("|".join(naive_term(t) for t in rule.any), re.IGNORECASE))
        for rule in rules
    ]


def naive_match(compiled: Sequence[tuple[str, re.Pattern[str]]], text: str) -> set[str]:
    return {rule_id for rule_id, rx in compiled if rx.search(text)}


def naive_text(story: Story) -> str:
    return f"{story.title}\n{story.summary}"


# -- measurements ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throughput:
    stories: int
    seconds: float
    first_pass: float
    """Seconds of the first pass over the distinct stories (cold caches)."""
    distinct: int
    matches: int
    """Matches found in the first pass."""

    @property
    def rate(self) -> float:
        return self.stories / self.seconds

    @property
    def cold_rate(self) -> float:
        return self.distinct / self.first_pass

    @property
    def warm_rate(self) -> float | None:
        if self.stories == self.distinct:
            return None
        return (self.stories - self.distinct) / (self.seconds - self.first_pass)


def time_ours(matcher: Matcher, stories: Sequence[Story], min_time: float) -> Throughput:
    """Match every story, then keep making passes until ``min_time`` seconds have elapsed and
    at least two passes were made (the second one with warm caches), unless the first pass alone
    took over 20 times ``min_time``."""
    match = matcher.match
    matches = 0
    start = time.perf_counter()
    for story in stories:
        matches += len(match(story))
    first = time.perf_counter() - start
    done, elapsed = len(stories), first
    while elapsed < min_time or (done == len(stories) and first < 20 * min_time):
        for story in stories:
            match(story)
        done += len(stories)
        elapsed = time.perf_counter() - start
    return Throughput(done, elapsed, first, len(stories), matches)


def time_with_hits(matcher: Matcher, stories: Sequence[Story]) -> float:
    """Stories/s when every match's hits (terms, fields, offsets) are also worked out. Matching
    computes them lazily, since the bot needs them only for matches that have recipients; this
    is the rate if every match were delivered."""
    start = time.perf_counter()
    for story in stories:
        for found in matcher.match(story):
            found.hits  # noqa: B018 - computing them is the point
    return len(stories) / (time.perf_counter() - start)


def _status(key: str) -> int | None:
    """A memory figure of /proc/self/status, in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0), so that the next peak is the
    build's own."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def memory_probe(mode: str, path: str) -> int:
    """Subprocess side of :func:`measure_memory`: build the Matcher from the rules in ``path``
    in this fresh process and print the figures as one JSON line."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rules = [Rule(id=i, title=t, any=tuple(a)) for i, t, a in data["rules"]]
    stories = [
        Story(feed="bench", key=f"s{k}", title=t, summary=s)
        for k, (t, s) in enumerate(data["stories"] if mode == "rss" else ())
    ]
    del data
    out: dict[str, float | int | bool | None] = {}
    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
        matcher = Matcher(rules)
        gc.collect()
        out["traced_current"], out["traced_peak"] = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    else:
        out["peak_reset"] = _reset_peak_rss()
        rss0, hwm0 = _status("VmRSS"), _status("VmHWM")
        start = time.perf_counter()
        matcher = Matcher(rules)
        out["build_seconds"] = time.perf_counter() - start
        gc.collect()
        rss1, hwm1 = _status("VmRSS"), _status("VmHWM")
        for story in stories:
            matcher.match(story)
        gc.collect()
        rss2 = _status("VmRSS")
        out.update(rss_before=rss0, rss_built=rss1, rss_matched=rss2, hwm_before=hwm0)
        out.update(hwm_built=hwm1, maxrss_built=_maxrss(), matched_stories=len(stories))
    out["patterns"] = matcher.pattern_count
    print(json.dumps(out))
    return 0


def measure_memory(rules: Sequence[Rule], stories: Sequence[Story]) -> dict[str, float]:
    """Memory of building the Matcher, each figure from a fresh subprocess; a probe that fails
    leaves its figures out (and prints why)."""
    results: dict[str, float] = {}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="bench-matching-") as tmp:
        path = Path(tmp) / "probe.json"
        payload = {
            "rules": [[r.id, r.title, list(r.any)] for r in rules],
            "stories": [[s.title, s.summary] for s in stories],
        }
        path.write_text(json.dumps(payload), encoding="utf-8")
        for mode in ("tracemalloc", "rss"):
            command = [sys.executable, "-m", "bench", "matching", "--memory-probe", mode, str(path)]
            try:
                proc = subprocess.run(
                    command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
                )
                lines = proc.stdout.strip().splitlines()
                if proc.returncode != 0 or not lines:
                    raise RuntimeError(f"exit status {proc.returncode}: {proc.stderr.strip()}")
                results.update(json.loads(lines[-1]))
            except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
                print(f"  WARNING: memory probe ({mode}) failed: {exc}")
    return results


@dataclass
class Agreement:
    stories: int
    rules: int
    both: int = 0
    only_ours: int = 0
    only_naive: int = 0
    ours_total: int = 0
    naive_total: int = 0

    @property
    def decisions(self) -> int:
        return self.stories * self.rules

    @property
    def ratio(self) -> float:
        return 1 - (self.only_ours + self.only_naive) / max(1, self.decisions)

    @property
    def positive(self) -> float:
        """Jaccard agreement of the matches alone (the all-negative decisions left out)."""
        return self.both / max(1, self.both + self.only_ours + self.only_naive)


def _example_ours(match: Match) -> str:
    hits = ", ".join(f"{h.term!r}->{h.text!r}" for h in match.hits[:3])
    return f"{match.rule_id}: {hits}"


def _example_naive(rule: Rule, text: str) -> str:
    found = []
    for term in rule.any:
        m = re.search(naive_term(term), text, re.IGNORECASE)
        if m:
            found.append(f"{term!r}->{m.group()!r} (at {m.start()})")
    return f"{rule.id}: {', '.join(found[:3])}"


def compare(
    matcher: Matcher,
    compiled: Sequence[tuple[str, re.Pattern[str]]],
    stories: Sequence[Story],
    naive_sets: Sequence[set[str]],
    examples: int = 4,
) -> tuple[Agreement, list[str]]:
    result = Agreement(len(stories), len(compiled))
    shown: Counter[str] = Counter()
    lines: list[str] = []
    for k, (story, naive) in enumerate(zip(stories, naive_sets, strict=True)):
        matches = {m.rule_id: m for m in matcher.match(story)}
        ours = set(matches)
        result.both += len(ours & naive)
        result.only_ours += len(ours - naive)
        result.only_naive += len(naive - ours)
        result.ours_total += len(ours)
        result.naive_total += len(naive)
        for rule_id in sorted(ours - naive):
            if shown["ours"] < examples:
                shown["ours"] += 1
                lines.append(f"    only ours,  story {k}: {_example_ours(matches[rule_id])}")
        for rule_id in sorted(naive - ours):
            if shown["naive"] < examples:
                shown["naive"] += 1
                rule = matcher.by_id[rule_id].rule
                lines.append(
                    f"    only naive, story {k}: {_example_naive(rule, naive_text(story))}"
                )
    return result, lines


def profile(matcher: Matcher, stories: Sequence[Story], top: int = 25) -> None:
    prof = cProfile.Profile()
    match = matcher.match
    prof.enable()
    for story in stories:
        match(story)
    prof.disable()
    print(report.section(f"profile: our matcher over {len(stories):,} stories (warm)"))
    stats = pstats.Stats(prof, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(15)


# -- the benchmark ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench matching",
        description=(__doc__ or "").splitlines()[0],
    )
    p.add_argument("--rules", type=int, default=TARGET_RULES, help="rules (default 10,000)")
    p.add_argument(
        "--stories", type=int, help="distinct stories of ~1,500 chars (default 5,000; quick 1,000)"
    )
    p.add_argument(
        "--naive-stories", type=int, help="stories the naive loop is timed on (default 20; quick 5)"
    )
    p.add_argument("--min-time", type=float, help="seconds of matching, at least (3; quick 1)")
    p.add_argument("--seed", type=int, default=1, help="seed of stories and rules (default 1)")
    p.add_argument("--quick", action="store_true", help="a run of under 30 s")
    p.add_argument("--check", action="store_true", help="exit status 1 when a target is missed")
    p.add_argument("--profile", action="store_true", help="cProfile our matcher afterwards")
    p.add_argument(
        "--corpus", type=Path, help=f"headlines JSON lines (default {corpora.DEFAULT_CORPUS})"
    )
    p.add_argument("--synthetic", action="store_true", help="use the synthetic corpus")
    p.add_argument("--memory-probe", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = p.parse_args(list(argv))
    defaults = (1_000, 5, 1.0) if args.quick else (5_000, 20, 3.0)
    if args.stories is None:
        args.stories = defaults[0]
    if args.naive_stories is None:
        args.naive_stories = defaults[1]
    if args.min_time is None:
        args.min_time = defaults[2]
    if args.rules < 1 or args.stories < 1 or args.naive_stories < 1:
        p.error("--rules, --stories and --naive-stories must be positive")
    args.naive_stories = min(args.naive_stories, args.stories)
    return args


def _mb(value: float | None) -> float | None:
    return None if value is None else value / MB


def _delta(memory: dict[str, float], after: str, before: str = "rss_before") -> float | None:
    a, b = memory.get(after), memory.get(before)
    return None if a is None or b is None else _mb(a - b)


def _print_inputs(
    args: argparse.Namespace,
    corpus: corpora.Corpus,
    texts: Sequence[corpora.StoryText],
    vocab: rulegen.Vocabulary,
    rules: Sequence[Rule],
    seconds: tuple[float, float],
) -> None:
    kinds = Counter(rulegen.term_kind(t) for r in rules for t in r.any)
    terms = sum(kinds.values())
    non_ascii = sum(not f"{s.title}{s.body}".isascii() for s in texts)
    report.print_facts(
        [
            ("corpus", corpus.description),
            ("stories", f"{len(texts):,} distinct (seed {args.seed}), built in {seconds[0]:.1f} s"),
            (
                "story length",
                f"mean {mean(s.length for s in texts):,.0f} chars "
                f"(title {mean(len(s.title) for s in texts):.0f} + summary)",
            ),
            ("non-ASCII", f"{non_ascii / len(texts):.0%} of stories have non-ASCII characters"),
            (
                "vocabulary",
                f"{vocab.distinct:,} distinct words; pools: {len(vocab.mid):,} mid, "
                f"{len(vocab.low):,} low, {len(vocab.names):,} names, {len(vocab.phrases):,} "
                f"phrases, {len(vocab.stems):,} stems, {len(vocab.acronyms):,} acronyms",
            ),
            ("rules", f"{len(rules):,} (seed {args.seed}), generated in {seconds[1]:.1f} s"),
            (
                "terms",
                f"{terms:,} ({terms / len(rules):.1f} per rule): "
                + ", ".join(f"{k} {n / terms:.0%}" for k, n in kinds.most_common()),
            ),
            ("examples", " / ".join(" | ".join(r.any) for r in rules[:3])),
        ]
    )


def _print_agreement(agreement: Agreement, examples: Sequence[str]) -> None:
    report.print_facts(
        [
            ("decisions", f"{agreement.decisions:,} (story, rule) pairs"),
            ("agreement", f"{agreement.ratio:.4%} of decisions"),
            (
                "matches",
                f"{agreement.both:,} by both, {agreement.only_ours:,} only ours "
                f"(e.g. accent folding), {agreement.only_naive:,} only naive; "
                f"agreement on matches alone {agreement.positive:.1%}",
            ),
        ]
    )
    for line in examples:
        print(line)
    if agreement.ratio < MIN_AGREEMENT:
        print(
            f"  WARNING: the engines agree on only {agreement.ratio:.2%} of decisions "
            f"(expected at least {MIN_AGREEMENT:.0%})"
        )


def _targets(
    rate: float, speedup: float, memory: Sequence[float | None], rules: int
) -> list[Target]:
    scale = "" if rules == TARGET_RULES else f" (at {rules:,} rules; the target is for 10,000)"
    measured = [m for m in memory if m is not None]
    shown = [
        f"{m:.1f} MB {what}"
        for m, what in zip(memory, ("retained", "RSS delta"), strict=True)
        if m is not None
    ]
    return [
        Target(f">= {TARGET_RATE:,} stories/s", rate >= TARGET_RATE, f"{rate:,.0f}{scale}"),
        Target(
            f">= {TARGET_RATIO:,}x the naive loop",
            speedup >= TARGET_RATIO,
            f"{speedup:,.0f}x{scale}",
        ),
        Target(
            f"< {TARGET_MB:.0f} MB for the compiled rules",
            bool(measured) and max(measured) < TARGET_MB,
            (", ".join(shown) or "not measured") + scale,
        ),
    ]


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        return memory_probe(*args.memory_probe)
    started = time.perf_counter()
    report.print_header("matching")

    print(report.section("corpus and rules"))
    t0 = time.perf_counter()
    corpus = corpora.load(args.corpus, synthetic=args.synthetic, seed=args.seed)
    texts = corpora.stories(corpus, args.stories, args.seed)
    stories = [
        Story(feed="bench", key=f"s{k}", title=s.title, summary=s.body) for k, s in enumerate(texts)
    ]
    t1 = time.perf_counter()
    vocab = rulegen.vocabulary(corpus, args.seed)
    rules = rulegen.rules(vocab, args.rules, args.seed)
    _print_inputs(args, corpus, texts, vocab, rules, (t1 - t0, time.perf_counter() - t1))

    # Our engine, over every story, for at least --min-time seconds.
    gc.collect()
    t0 = time.perf_counter()
    matcher = Matcher(rules)
    build = time.perf_counter() - t0
    ours = time_ours(matcher, stories, args.min_time)

    # The naive loop, on a sample; ours again on the same sample, and their decisions compared.
    t0 = time.perf_counter()
    compiled = naive_compile(rules)
    naive_build = time.perf_counter() - t0
    sample = stories[: args.naive_stories]
    sample_texts = [naive_text(s) for s in sample]
    t0 = time.perf_counter()
    naive_sets = [naive_match(compiled, text) for text in sample_texts]
    naive_seconds = time.perf_counter() - t0
    naive_rate = len(sample) / naive_seconds
    ours_sample = time_ours(matcher, sample, min(0.5, args.min_time))
    agreement, examples = compare(matcher, compiled, sample, naive_sets)

    memory = measure_memory(rules, stories)
    traced = _mb(memory.get("traced_current"))
    rss_delta = _delta(memory, "rss_built")
    peak_rss = _delta(memory, "hwm_built") if memory.get("peak_reset") else None

    print(report.section("results"))
    n = len(sample)
    with_hits = time_with_hits(matcher, stories[: min(len(stories), 2000)])
    rows = [
        Row("stories/s", ours.rate, naive_rate),
        Row("ms per story", 1000 / ours.rate, 1000 / naive_rate),
        Row(f"stories/s on the naive's {n} stories", ours_sample.rate, naive_rate),
        Row("stories/s, first pass (cold caches)", ours.cold_rate),
        Row("stories/s, later passes (warm caches)", ours.warm_rate),
        Row("stories/s with every match's hits built", with_hits, naive_rate),
        Row("stories timed", ours.stories, n, compare=False),
        Row("seconds timed", ours.seconds, naive_seconds, compare=False),
        Row("build time (s)", build, naive_build),
        Row(
            f"matches per story (the {n} stories)",
            agreement.ours_total / n,
            agreement.naive_total / n,
        ),
        Row("memory: build, retained (tracemalloc)", traced, unit="MB"),
        Row("memory: build, peak (tracemalloc)", _mb(memory.get("traced_peak")), unit="MB"),
        Row("memory: build, RSS delta (VmRSS)", rss_delta, unit="MB"),
        Row("memory: build, peak RSS growth (VmHWM)", peak_rss, unit="MB"),
        Row(
            f"memory: RSS delta after matching {len(stories):,} stories",
            _delta(memory, "rss_matched"),
            unit="MB",
        ),
    ]
    print(report.table(rows, "ours (Matcher)", "naive (re per rule)"))
    print(
        f"  ratio = ours / baseline. Ours: {ours.matches / len(stories):.1f} matches per story "
        f"over all {len(stories):,} stories, {matcher.pattern_count:,} distinct patterns indexed."
    )

    print(report.section(f"agreement on {n} stories x {len(rules):,} rules"))
    _print_agreement(agreement, examples)

    print(report.section("targets"))
    targets = _targets(ours.rate, ours.rate / naive_rate, (traced, rss_delta), args.rules)
    all_met = report.print_targets(targets)
    print(f"\n  total run time {time.perf_counter() - started:.1f} s")

    if args.profile:
        profile(matcher, stories)
    return 1 if args.check and not all_met else 0
