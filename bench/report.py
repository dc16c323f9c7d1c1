"""What every benchmark prints: the machine, the command line, a table of our figure beside the
baseline's with their ratio, and PASS/FAIL lines against targets."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The project's root directory."""

Value = float | int | str | None


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the result table. ``None`` prints as a dash (no such figure)."""

    figure: str
    ours: Value
    baseline: Value = None
    unit: str = ""
    compare: bool = True
    """Whether the ratio means anything (not for counts of work done, say)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A target from the issue, and whether this run met it."""

    name: str
    met: bool
    detail: str


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cores() -> str:
    total = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = total
    return f"{total}" if usable == total else f"{total} ({usable} usable by this process)"


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=10"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def command_line() -> str:
    """The command exactly as it was run."""
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    return shlex.join(argv)


def load() -> str:
    """The load averages: figures taken on a busy machine are not comparable."""
    try:
        one, five, _ = os.getloadavg()
    except (AttributeError, OSError):
        return "unknown"
    return f"{one:.2f} (1 min), {five:.2f} (5 min) before the run"


def machine() -> list[tuple[str, str]]:
    impl = platform.python_implementation()
    return [
        ("cpu", cpu_model()),
        ("cores", cores()),
        ("load", load()),
        ("python", f"{impl} {platform.python_version()} ({sys.executable})"),
        ("system", platform.platform()),
        ("revision", git_revision()),
        ("command", command_line()),
    ]


def fmt(value: Value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        text = f"{value:,}"
    elif abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:,.1f}"
    elif abs(value) >= 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def ratio(ours: Value, baseline: Value) -> str:
    if isinstance(ours, str) or isinstance(baseline, str) or ours is None or baseline is None:
        return "-"
    if baseline == 0:
        return "-"
    r = ours / baseline
    return f"{r:,.0f}x" if r >= 100 else f"{r:.3g}x"


def table(rows: Sequence[Row], ours: str = "ours", baseline: str = "baseline") -> str:
    """The rows as an aligned text table; ratio is always ours / baseline."""
    head = ("figure", ours, baseline, "ratio")
    body = [
        (
            r.figure,
            fmt(r.ours, r.unit),
            fmt(r.baseline, r.unit),
            ratio(r.ours, r.baseline) if r.compare else "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return " | ".join([first, *rest])

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(b) for b in body)])


def section(title: str) -> str:
    return f"\n== {title} " + "=" * max(0, 76 - len(title))


def print_header(name: str) -> None:
    print(f"benchmark: {name}")
    for key, value in machine():
        print(f"  {key:<9} {value}")


def print_facts(facts: Sequence[tuple[str, object]]) -> None:
    width = max((len(k) for k, _ in facts), default=0)
    for key, value in facts:
        print(f"  {key:<{width}}  {value}")


def print_targets(targets: Sequence[Target]) -> bool:
    """Print one PASS/FAIL line per target; True when every target is met."""
    for t in targets:
        print(f"  {'PASS' if t.met else 'FAIL'}  {t.name}: {t.detail}")
    return all(t.met for t in targets)
