"""Keeping the rules in force current: reload when the rule files change (debounced), on
SIGHUP or /reload; a valid set replaces the rules everywhere at once, an invalid one is
refused with every problem's file and line, the last good rules keep running, and the admins
are told once per distinct refusal."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from bot.core.errors import ConfigError, Problem
from bot.core.rules import RuleBook
from bot.rulefiles import load_rules, rules_fingerprint

log = logging.getLogger(__name__)


class RuleReloader:
    """Owns the rules in force (:attr:`book`) and why the last reload was refused."""

    def __init__(
        self,
        rules_path: Path,
        feed_tags: Mapping[str, Sequence[str]],
        *,
        notify_admins: Callable[[str], Awaitable[None]],
        on_reload: Callable[[RuleBook], None] = lambda book: None,
    ) -> None:
        self.rules_path = rules_path
        self.feed_tags = feed_tags
        self.notify_admins = notify_admins
        self.on_reload = on_reload
        self.book: RuleBook = load_rules(rules_path, feed_tags).book(feed_tags)
        self.error: str | None = None
        """Why the last reload was refused (the previous rules stay in force), or None."""
        self._fingerprint = rules_fingerprint(rules_path)
        self._changing: tuple[tuple[str, int, int], ...] | None = None

    def adopt(self, book: RuleBook) -> None:
        """Put ``book`` in force (the same rules with the watches loaded from the store)."""
        self.book = book
        self.on_reload(book)

    async def watch(self) -> None:
        """Reload when the rule files changed and then stayed the same for one check: an
        editor may still be writing a file when the change is first seen, and half a file
        must not be reported to the admins as an invalid edit."""
        seen = rules_fingerprint(self.rules_path)
        if seen == self._fingerprint:
            self._changing = None
        elif seen == self._changing:
            self._changing = None
            await self.reload()
        else:
            self._changing = seen

    async def reload(self) -> str:
        """Load the rules directory again; returns a one-line report."""
        self._fingerprint = rules_fingerprint(self.rules_path)
        try:
            rules = load_rules(self.rules_path, self.feed_tags)
            book = rules.book(self.feed_tags, self.book.every_watch)  # the watches stay
        except Exception as exc:  # a bug or a hostile file must not stop the bot either
            if not isinstance(exc, ConfigError):
                log.exception("loading the rules failed")
                exc = ConfigError(
                    [Problem(str(self.rules_path), f"cannot load: {type(exc).__name__}: {exc}")]
                )
            report = str(exc)
            # Recorded before anyone is told, so that /status agrees with the notice.
            new_error, self.error = report != self.error, report
            if new_error:
                log.error("rules not reloaded, the previous rules stay in force:\n%s", report)
                await self.notify_admins(
                    f"Rule change refused; the previous rules stay in force.\n{report}"
                )
            return f"Rules not reloaded: {len(exc.problems)} problem(s).\n{report}"
        self.book = book
        self.error = None
        self.on_reload(book)
        log.info("rules reloaded: %d rules", len(book.rules))
        return f"Rules reloaded: {len(book.rules)} rules in force."
