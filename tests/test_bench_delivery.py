"""Smoke test of ``python -m bench delivery`` in its smallest mode: the real bot and the naive
sender each deliver through a fake Bot API that enforces Telegram's limits, and both sets of
figures are printed beside the limit-bound ideal. No timing target is asserted (machines
differ; run the benchmark with ``--check`` for that)."""

from __future__ import annotations

import pytest

from tests.bench_cli import number, row, rows, run_bench


def test_delivery_prints_ours_the_naive_sender_and_the_ideal() -> None:
    result = run_bench("delivery", "--quick", "--alerts", "30", "--naive-alerts", "60")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "bench delivery --quick --alerts 30" in out
    assert "load" in out

    (ours, ideal, ratio), (naive, naive_ideal, _) = rows(
        out, "time to drain (story fetched -> last accepted)"
    )
    # The ideal is computed from the fake's limits: N alerts at 30 per second.
    assert number(ideal) == pytest.approx(30 / 30, abs=0.01)
    assert number(naive_ideal) == pytest.approx(60 / 30, abs=0.01)
    assert 0 < number(ours) < 60
    assert 0 < number(naive) < 60
    assert ratio.endswith("x")

    (ours_sent, wanted, _), (naive_sent, naive_wanted, _) = rows(out, "alerts delivered")
    assert (number(ours_sent), number(wanted)) == (30, 30)
    assert (number(naive_sent), number(naive_wanted)) == (60, 60)
    (ours_429, target, _), (naive_429, _, _) = rows(out, "429 answers (Too Many Requests)")
    assert number(ours_429) == 0 == number(target)
    # Sending 60 messages as fast as possible crosses 30 per second: the fake answers 429.
    assert number(naive_429) >= 1
    ours_per_100, naive_per_100, _ = row(out, "429 answers per 100 alerts")
    assert number(naive_per_100) > number(ours_per_100)

    assert "PASS  zero 429s" in out
    assert "drain within 10% of the limit-bound time" in out
