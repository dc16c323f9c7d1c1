"""Helpers of the benchmark smoke tests: run ``python -m bench <name>`` in a subprocess, as a
developer would, and read figures back from its result tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def rows(out: str, figure: str) -> list[tuple[str, str, str]]:
    """(ours, baseline, ratio) of every table row whose figure is ``figure``."""
    found = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 4 and cells[0] == figure:
            found.append((cells[1], cells[2], cells[3]))
    return found


def row(out: str, figure: str) -> tuple[str, str, str]:
    """The first table row of ``figure``."""
    found = rows(out, figure)
    assert found, f"no row {figure!r} in:\n{out}"
    return found[0]


def number(cell: str) -> float:
    """``"1,234.5 s"`` -> 1234.5"""
    return float(cell.split()[0].replace(",", ""))


def fact(out: str, key: str) -> str:
    """The value of a ``  key   value`` line of the benchmark's facts."""
    for line in out.splitlines():
        head, sep, value = line.strip().partition("  ")
        if sep and head == key:
            return value.strip()
    raise AssertionError(f"no fact {key!r} in:\n{out}")
