"""Smoke test of ``python -m bench memory`` in its smallest mode: a database is seeded, a real
bot polls every feed and sends the alerts, and its peak RSS is printed beside the bound and the
bare interpreter's. No memory target is asserted at this size."""

from __future__ import annotations

import re

import pytest

from tests.bench_cli import fact, number, row, run_bench


def test_memory_prints_peak_rss_the_bound_and_the_bare_interpreter() -> None:
    args = ["--feeds", "60", "--rules", "100", "--stories", "3000", "--settle", "1"]
    result = run_bench("memory", "--quick", *args)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "bench memory --quick --feeds 60" in out

    peak, bound, ratio = row(out, "peak RSS, bot process (VmHWM)")
    assert number(bound) == pytest.approx(250)
    assert ratio.endswith("x")
    total, _, _ = row(out, "peak RSS, bot + workers (sampled sum)")
    peak_again, bare, _ = row(out, "peak RSS, bot process")
    assert number(peak_again) == number(peak)
    # A bot that loaded data is bigger than one that only imported itself, which is bigger
    # than an empty interpreter; its worker processes add to it.
    assert 20 < number(bare) < number(peak) <= number(total)
    child, bare_worker, _ = row(out, "peak RSS, largest child process")
    assert number(child) > 0 and number(bare_worker) > 0
    # The set-up really ran: the stories stored, every feed polled, the new stories alerted.
    assert number(fact(out, "stories")) == 3000
    assert number(fact(out, "feeds answered 304")) + number(fact(out, "feeds answered 200")) >= 60
    assert number(fact(out, "feeds answered 304")) >= 50
    assert number(fact(out, "feeds changed")) == 1
    assert number(fact(out, "bot log errors")) == 0
    assert re.search(r"^  (PASS|FAIL)  peak RSS under 250 MB, bot process", out, re.MULTILINE)
