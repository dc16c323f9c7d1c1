"""Smoke test of ``python -m bench latency`` in its smallest mode: a real bot polls a few feeds
at a 1 s interval, stories appear, and the latency percentiles are printed beside the ideal
poller's. No timing target is asserted (run the benchmark with ``--check`` for that)."""

from __future__ import annotations

import pytest

from tests.bench_cli import number, row, run_bench


def test_latency_prints_percentiles_and_the_ideal_poller() -> None:
    args = ["--feeds", "4", "--interval", "1", "--stories", "5", "--window", "2"]
    result = run_bench("latency", "--quick", *args)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "bench latency --quick --feeds 4 --interval 1" in out

    p50, ideal50, _ = row(out, "p50 latency")
    p95, ideal95, ratio = row(out, "p95 latency")
    worst, interval, _ = row(out, "max latency")
    # The ideal poller's latency is uniform over one interval.
    assert number(ideal50) == pytest.approx(0.5)
    assert number(ideal95) == pytest.approx(0.95)
    assert number(interval) == pytest.approx(1.0)
    assert 0 < number(p50) <= number(p95) <= number(worst) < 30
    assert ratio.endswith("x")
    measured, planned, _ = row(out, "stories measured")
    assert number(measured) == number(planned) == 5
    processing, _, _ = row(out, "processing p50 (fetch -> at Bot API)")
    assert 0 < number(processing) <= number(worst)
    assert "p95 under the interval + 2 s" in out
