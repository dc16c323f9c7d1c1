"""Running the real bot for a benchmark: a ``newsbot run`` process (``python -m bot run``, what
the ``newsbot`` script runs) with a config file pointing at loopback fakes.

The fakes live in the benchmark's own process, in threads: the feed server
(:class:`tests.fakes.feed_server.FeedServer`) and the fake Bot API server
(:class:`tests.fakes.telegram_api.FakeTelegram`, with Telegram's flood limits enforced, so a
send over a limit is answered 429 and counted). Both record times with ``time.monotonic()``,
the clock the benchmark uses too, so appearance and arrival times compare directly. The bot
gets its token from the environment (``TELEGRAM_BOT_TOKEN``), as users run it, and keeps its
state in a real SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import ROOT
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456:BENCH-token-0123456789abcdefghij"
"""The bot token of the fake Bot API (passed to the bot through its environment)."""
ADMIN = 999
"""The admin's user id (told about problems, like a real deployment's)."""


def fake_telegram() -> FakeTelegram:
    """A fake Bot API server (not started) for the bot's token, answering 429 to any send
    over Telegram's flood limits, as Telegram does."""
    return FakeTelegram(token=TOKEN, enforce_limits=True)


def q(value: str) -> str:
    """``value`` as a YAML double-quoted scalar (a JSON string is one)."""
    return json.dumps(value, ensure_ascii=False)


def config_text(
    *,
    api_url: str,
    database: Path,
    feeds: Iterable[tuple[str, str]],
    polling: dict[str, str],
    delivery: dict[str, str] | None = None,
    rules_dir: str = "rules",
    log_level: str = "INFO",
    clustering: bool = False,
) -> str:
    """A ``config.yaml`` for the bot: Telegram at ``api_url`` (token from the environment),
    SQLite at ``database``, the given ``(name, url)`` feeds and settings. Story clustering is
    off unless asked for: the generated stories differ by a number only, and each is an
    alert to count, not another outlet's version of one story."""
    lines = [
        "telegram:",
        "  token: ${TELEGRAM_BOT_TOKEN}",
        f"  api_url: {q(api_url)}",
        "  poll_timeout: 1s",
        f"  admins: [{ADMIN}]",
        "storage:",
        f"  url: {q('sqlite:///' + str(database))}",
        "polling:",
        *(f"  {k}: {v}" for k, v in polling.items()),
    ]
    if delivery:
        lines += ["delivery:", *(f"  {k}: {v}" for k, v in delivery.items())]
    lines += ["clustering:", f"  enabled: {'true' if clustering else 'false'}"]
    lines += [f"rules_dir: {q(rules_dir)}", f"log_level: {log_level}", "feeds:"]
    for name, url in feeds:
        lines += [f"  - name: {q(name)}", f"    url: {q(url)}"]
    return "\n".join(lines) + "\n"


def rules_text(rules: Sequence[dict[str, object]]) -> str:
    """A rule file holding ``rules`` (dicts of rule keys: id, title, any, notify...)."""
    out = ["rules:"]
    for rule in rules:
        first = True
        for key, value in rule.items():
            lead = "  - " if first else "    "
            first = False
            if isinstance(value, list | tuple):
                items = ", ".join(q(str(v)) for v in value)
                out.append(f"{lead}{key}: [{items}]")
            else:
                out.append(f"{lead}{key}: {q(str(value))}")
    return "\n".join(out) + "\n"


def fresh_database(path: Path) -> Path:
    """``path``, with any database left there by an earlier run (``--keep``) removed."""
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return path


class BotDied(RuntimeError):
    """The bot process exited while the benchmark still needed it."""


@dataclass
class BotProcess:
    """A ``python -m bot run --config CONFIG`` process; its output goes to ``log``."""

    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> BotProcess:
        env = dict(os.environ)
        env["TELEGRAM_BOT_TOKEN"] = TOKEN
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--config", str(self.config)],
                cwd=self.config.parent,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the benchmark is not delivered twice
            )
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the bot was not started")
        return self.process.pid

    def check(self) -> None:
        """Raise :class:`BotDied` (with the end of its log) if the bot has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise BotDied(
                f"the bot exited with status {self.process.returncode}; its log ends with:\n"
                + self.tail()
            )

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a clean shutdown, as users stop it), then SIGKILL after ``timeout``."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def log_lines(self, needle: str) -> list[str]:
        """Lines of the bot's log containing ``needle``."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if needle in line]


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    bot: BotProcess | None = None,
    step: float = 0.02,
) -> float:
    """Poll ``predicate`` until true; returns the ``time.monotonic()`` at which it was seen
    true. Raises TimeoutError (with the bot's log) after ``timeout`` seconds, or
    :class:`BotDied` as soon as the bot exits."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if bot is not None:
            bot.check()
        if time.monotonic() >= deadline:
            tail = f"; the bot's log ends with:\n{bot.tail()}" if bot is not None else ""
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{tail}")
        time.sleep(step)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
