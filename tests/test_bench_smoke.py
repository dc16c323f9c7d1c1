"""Smoke test of the benchmark package: ``python -m bench matching`` runs end to end and prints
its table with both engines' figures. It asserts no timing target (machines differ; run the
benchmark with ``--check`` for that)."""

from __future__ import annotations

import re

import pytest

from tests.bench_cli import run_bench as _bench


def _number(cell: str) -> float:
    return float(cell.split()[0].replace(",", ""))


@pytest.mark.parametrize("corpus", [[], ["--synthetic"]], ids=["default-corpus", "synthetic"])
def test_matching_quick_prints_both_engines(corpus: list[str]) -> None:
    args = ["matching", "--quick", "--rules", "500", "--stories", "200", "--min-time", "0.2"]
    result = _bench(*args, *corpus)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "ours (Matcher)" in out
    assert "naive (re per rule)" in out
    row = next(line for line in out.splitlines() if line.startswith("stories/s "))
    _, ours, naive, ratio = (cell.strip() for cell in row.split("|"))
    assert _number(ours) > 0
    assert _number(naive) > 0
    assert ratio.endswith("x")
    assert re.search(r"^  (PASS|FAIL)  >= 5,000 stories/s", out, re.MULTILINE)
    assert "command" in out and "bench matching --quick" in out
    assert "agreement" in out
    if corpus:
        assert "synthetic" in out
    assert "WARNING: memory probe" not in out


def test_dispatcher_lists_and_refuses_unknown() -> None:
    listed = _bench()
    assert listed.returncode == 2
    assert "matching" in listed.stdout
    unknown = _bench("no-such-benchmark")
    assert unknown.returncode == 2
    assert "unknown benchmark" in unknown.stderr


def test_watches_quick_prints_the_figures_next_to_the_file_rules_alone() -> None:
    args = ["watches", "--watches", "2000", "--rules", "100", "--stories", "200"]
    result = _bench(*args, "--new", "20", "--min-time", "0.2", "--synthetic")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "with 2,000 watches" in out and "file rules only" in out
    row = next(line for line in out.splitlines() if line.startswith("stories/s "))
    _, ours, alone, ratio = (cell.strip() for cell in row.split("|"))
    assert _number(ours) > 0 and _number(alone) > 0 and ratio.endswith("x")
    assert re.search(r"^  PASS  the changed matcher agrees with a fresh one", out, re.MULTILINE)
    assert re.search(r"^  (PASS|FAIL)  one new watch compiled in under 50 ms", out, re.MULTILINE)
