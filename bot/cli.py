"""The ``newsbot`` command line (also ``python -m bot``).

    newsbot run [--config PATH] [--once]   poll and deliver until stopped (or one round)
    newsbot check [--config PATH]          validate the config and the rules, list every error

Exit codes: 0 success, 1 invalid configuration or rules, 2 a runtime failure (database, token).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.app import App, Options
from bot.config import Config, load_config
from bot.core.errors import ConfigError, NewsbotError
from bot.logs import setup_logging
from bot.rulefiles import load_rules

log = logging.getLogger("bot")

DEFAULT_CONFIG = "config.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="Watch news feeds and push matching stories to Telegram."
    )
    parser.add_argument("--version", action="version", version=f"newsbot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="poll feeds and deliver alerts until stopped")
    run.add_argument("--once", action="store_true", help="poll every feed once, deliver, exit")
    check = commands.add_parser("check", help="validate the config and rules, then exit")
    for sub in (run, check):
        sub.add_argument(
            "--config",
            "-c",
            default=DEFAULT_CONFIG,
            type=Path,
            help=f"configuration file (default: ./{DEFAULT_CONFIG})",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    setup_logging(config.log_level, secrets=[config.telegram.token or ""])
    if args.command == "check":
        return _check(config)
    try:
        return asyncio.run(_run(config, once=args.once))
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    except NewsbotError as exc:
        log.error("%s", exc)
        return 2


def _print_problems(exc: ConfigError) -> None:
    print(f"newsbot: {len(exc.problems)} problem(s) found:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def _check(config: Config) -> int:
    try:
        rules = load_rules(config.rules_path, {f.name: f.tags for f in config.feeds})
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    mode = "Telegram" if config.telegram.token else "console (no TELEGRAM_BOT_TOKEN)"
    print(
        f"OK: {config.source}: {len(config.feeds)} feeds; {config.rules_path}: "
        f"{len(rules.rules)} rules, {len(rules.lexicon)} lexicons; delivery to {mode}"
    )
    return 0


async def _run(config: Config, *, once: bool) -> int:
    app = await App.create(config, Options())
    try:
        if once:
            results = await app.run_once()
            failed = [r for r in results if r.outcome in ("failed", "gone")]
            pending = await app.store.pending_count()
            log.info(
                "polled %d feeds (%d failed); %d alerts sent; %d still queued",
                len(results),
                len(failed),
                app.sender.stats.sent,
                pending,
            )
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(app.reload_rules()))
        await app.run(stop)
        return 0
    finally:
        await app.close()
