"""Smoke tests of ``python -m bench poll`` and ``python -m bench parse`` in their smallest
runs: each runs end to end and prints our figures beside the baselines' with sane values (no
timing target is asserted: machines differ; run the benchmarks with ``--check`` for that)."""

from __future__ import annotations

import importlib.util
import re

from tests.bench_cli import run_bench as _bench


def _cells(out: str, figure: str, after: str = "") -> list[str]:
    """The cells of the first table row named ``figure`` after the line containing ``after``."""
    start = out.index(after) if after else 0
    line = next(x for x in out[start:].splitlines() if x.startswith(figure))
    return [c.strip() for c in line.split("|")]


def _number(cell: str) -> float:
    return float(cell.split()[0].replace(",", ""))


def test_poll_smallest_run_prints_ours_and_both_baselines() -> None:
    result = _bench("poll", "--quick", "--feeds", "10")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "command" in out and "bench poll --quick" in out
    assert "WARNING: " not in out.replace("WARNING: reader is not installed", "")
    has_reader = importlib.util.find_spec("reader") is not None
    baselines = ["feedparser", "reader"] if has_reader else ["feedparser"]
    if not has_reader:
        assert "reader is not installed" in out
    # 10 feeds, 10% changed: one feed publishes 1-5 stories; everyone must find the same ones.
    found = set()
    for name in baselines:
        head = next(
            x
            for x in out.splitlines()
            if x.startswith("figure") and name in [c.strip() for c in x.split("|")]
        )
        assert "ours" in head
        _, ours, base, ratio = _cells(out, "10% changed: wall time", head)
        assert 0 < _number(ours) < 60 and 0 < _number(base) < 60
        assert ratio.endswith("x")
        _, ours_new, base_new, _ = _cells(out, "10% changed: ... in the 10 feeds both poll", head)
        assert 1 <= int(ours_new) <= 5 and ours_new == base_new
        _, ours_cold, base_cold, _ = _cells(out, "cold (all new): ... in the 10 feeds", head)
        assert int(ours_cold.replace(",", "")) >= 10 * 50 and ours_cold == base_cold
        found.add(ours_new)
    assert len(found) == 1
    _, unchanged, *_ = _cells(out, "CPU per unchanged feed")
    _, changed, *_ = _cells(out, "CPU per changed feed")
    assert 0 < _number(unchanged) < _number(changed) < 2000
    # Conditional GET really happened: the unchanged cycle's feeds were answered 304.
    line = next(x for x in out.splitlines() if x.startswith("  ours") and " none " in x)
    assert re.search(r"304 [1-9]", line) and "bodies parsed 0" in line
    assert re.search(r"^  (PASS|FAIL)  unchanged feed under 3 ms CPU", out, re.MULTILINE)
    assert re.search(r"^  (PASS|FAIL)  >= 20x faster than feedparser", out, re.MULTILINE)


def test_parse_smallest_run_prints_ours_and_feedparser() -> None:
    result = _bench("parse", "--quick", "--feeds", "3", "--min-time", "0.2", "--no-real")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "ours (parse_feed)" in out and "feedparser defaults" in out
    _, ours, base, ratio = _cells(out, "stories/s, one core")
    assert _number(ours) > 100 and _number(base) > 100 and ratio.endswith("x")
    _, pool, _, _ = _cells(out, "stories/s, ParserPool")
    assert _number(pool) > 100
    _, ours_n, base_n, _ = _cells(out, "stories per pass")
    assert ours_n == base_n, "both read every item of the generated feeds"
    assert re.search(r"^  (PASS|FAIL)  our parse path beats", out, re.MULTILINE)


def test_dispatcher_lists_poll_and_parse() -> None:
    listed = _bench()
    assert "poll" in listed.stdout and "parse" in listed.stdout
