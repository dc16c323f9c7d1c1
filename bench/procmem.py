"""Memory of a process and its descendants, from ``/proc`` (Linux): what ``ps`` and the kernel's
out-of-memory killer see, sampled in a background thread."""

from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass, field

MB = 1024 * 1024


def status(pid: int) -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` (peak RSS) and friends of ``pid``, in bytes ({} if it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
                    out[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError):
        return {}
    return out


def pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes: its RSS with every page shared with other
    processes (shared libraries, the interpreter) divided among them, so that the PSS of
    several processes add up to what they really use together (0 if unknown)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (children, their children...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the ppid follows it.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1:
            parents[int(entry)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found.extend(children)
        frontier.extend(children)
    return found


@dataclass
class Peaks:
    """What :class:`Sampler` saw."""

    samples: int = 0
    main_rss: int = 0
    """Largest VmRSS of the main process seen in a sample."""
    main_hwm: int = 0
    """The kernel's VmHWM of the main process (its true peak, between samples too)."""
    total_rss: int = 0
    """Largest sum of the VmRSS of the whole process tree in one sample."""
    child_hwm: dict[int, int] = field(default_factory=dict)
    """Peak RSS (VmHWM) of every descendant seen."""
    child_cmd: dict[int, str] = field(default_factory=dict)
    total_pss: int = 0
    """Largest sum of the PSS of the whole process tree in one sample."""
    last_main_rss: int = 0
    last_total_rss: int = 0

    @property
    def hwm_sum(self) -> int:
        """Main and descendants' peaks added up: an upper bound of the tree's peak (their
        peaks need not coincide)."""
        return self.main_hwm + sum(self.child_hwm.values())


class Sampler:
    """Samples the memory of ``pid`` and its descendants every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peaks = Peaks()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def sample(self) -> None:
        main = status(self.pid)
        if not main:
            return
        children = {c: status(c) for c in descendants(self.pid)}
        with self._lock:
            p = self.peaks
            p.samples += 1
            rss = main.get("VmRSS", 0)
            p.main_rss = max(p.main_rss, rss)
            p.main_hwm = max(p.main_hwm, main.get("VmHWM", 0))
            total = rss
            total_pss = pss(self.pid)
            for child, st in children.items():
                if not st:
                    continue
                total += st.get("VmRSS", 0)
                total_pss += pss(child)
                p.child_hwm[child] = max(p.child_hwm.get(child, 0), st.get("VmHWM", 0))
                if child not in p.child_cmd:
                    p.child_cmd[child] = command(child)
            p.total_rss = max(p.total_rss, total)
            p.total_pss = max(p.total_pss, total_pss)
            p.last_main_rss, p.last_total_rss = rss, total

    def snapshot(self) -> Peaks:
        with self._lock:
            return copy.deepcopy(self.peaks)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self) -> Peaks:
        self.sample()
        self._stop.set()
        self._thread.join(5)
        return self.snapshot()


def mb(value: float | None) -> float | None:
    return None if value is None else value / MB
