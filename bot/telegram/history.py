"""History on demand: ``/latest <topic> [n]``, a topic's most recent matches, and
``/search <query>``, a query in the rule language over the stories of the last days (edge:
Telegram). Both match the stored stories afresh, bounded in time (:data:`HISTORY`) and in
count (:data:`SCANNED`), in a worker thread so that the bot keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import html
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bot.core.models import Story
from bot.core.ports import SubscriptionStore
from bot.core.render import shorten
from bot.core.rules import Rule, RuleBook, RuleError
from bot.core.watches import COUNTED, is_watch, watch_number, watch_rule
from bot.telegram import texts
from bot.telegram.handlers import Handlers, esc
from bot.telegram.i18n import _

HISTORY = timedelta(days=3)
"""How far back /latest and /search look."""
SCANNED = 20_000
"""Stored stories they look at, at most (the newest)."""
SHOWN = 10
"""Stories one answer lists by default; at most :data:`MOST`."""
MOST = 30


class HistoryCommands(Handlers):
    """/latest and /search."""

    async def latest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = list(context.args or [])
        count = SHOWN
        if len(args) > 1 and args[-1].isdigit():
            count = min(MOST, max(1, int(args.pop())))
        if len(args) != 1:
            await self._reply(update, _(texts.LATEST_USAGE))
            return
        rule, problem = await self._topic_or_watch(update, args[0])
        if rule is None:
            await self._reply(update, problem or "")
            return
        found = await self._matching(rule, count)
        title = f"👁 {rule.title}" if is_watch(rule.id) else rule.title
        header = _(texts.LATEST_HEADER).format(title=esc(title), days=HISTORY.days)
        await self._answer(update, header, found)

    async def search(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = " ".join(context.args or []).strip()
        if not query:
            await self._reply(update, _(texts.SEARCH_USAGE))
            return
        rule = Rule(id="search", title="search", query=query)
        try:
            found = await self._matching(rule, SHOWN)
        except RuleError as exc:
            await self._reply(update, query_error(exc))
            return
        header = _(texts.SEARCH_HEADER).format(query=esc(query), days=HISTORY.days)
        await self._answer(update, header, found)

    async def _topic_or_watch(self, update: Update, wanted: str) -> tuple[Rule | None, str | None]:
        """A topic by its id, or one of this chat's watches by its number (``3`` or
        ``watch:3``); else None and why."""
        number = int(wanted) if wanted.isdigit() else watch_number(wanted.lower())
        if number is None:
            return self._find(wanted)
        watch = await self.store.watch(number)
        if watch is None or watch.chat != self._chat(update) or watch.state not in COUNTED:
            return None, _(texts.WATCH_UNKNOWN).format(number=number)
        return watch_rule(watch.id, watch.chat, watch.query), None

    async def _matching(self, rule: Rule, count: int) -> list[Story]:
        return await recent_matches(self.rules(), self.store, self.clock() - HISTORY, rule, count)

    async def _answer(self, update: Update, header: str, found: list[Story]) -> None:
        if not found:
            await self._reply(update, header + _(texts.HISTORY_NONE))
            return
        lines = story_lines(found)
        await self._send_lines(update, header, lines)


def query_error(exc: RuleError) -> str:
    """Why a query typed in a command cannot be read, with its column when known."""
    where = _(texts.SEARCH_AT_COLUMN).format(column=exc.column) if exc.column else ""
    return _(texts.SEARCH_INVALID).format(error=esc(exc.message)) + where


def story_lines(found: list[Story]) -> list[str]:
    """One line per story: its title, linked when the link is a web address."""
    lines = []
    for story in found:
        title = esc(shorten(story.title or _(texts.UNTITLED), 200))
        link = story.link or ""
        if link.startswith(("http://", "https://")):
            lines.append(f'• <a href="{html.escape(link, quote=True)}">{title}</a>')
        else:
            lines.append(f"• {title}")
    return lines


async def recent_matches(
    book: RuleBook, store: SubscriptionStore, since: datetime, rule: Rule, count: int
) -> list[Story]:
    """The newest stored stories since ``since`` that ``rule`` matches (its feed scope kept),
    at most ``count``; raises :class:`RuleError` for a query that cannot be read."""
    found, _total = await preview(book, store, since, rule, count, stop_early=True)
    return found


async def preview(
    book: RuleBook,
    store: SubscriptionStore,
    since: datetime,
    rule: Rule,
    count: int,
    *,
    stop_early: bool = False,
) -> tuple[list[Story], int]:
    """The newest ``count`` stored stories since ``since`` that ``rule`` matches, and how
    many it matches in all (unless ``stop_early``: then the count is of those returned)."""
    alone = RuleBook([replace(rule, notify=())], book.lexicon, book.feed_tags)
    stories = await store.recent_stories(since, SCANNED)

    def scan() -> tuple[list[Story], int]:
        # Newest published first; the undated last, newest seen first.
        oldest = datetime.min.replace(tzinfo=UTC)
        stories.sort(key=lambda s: s.published or oldest, reverse=True)
        found: list[Story] = []
        total = 0
        for story in stories:
            if alone.matcher.match(story):
                total += 1
                if len(found) < count:
                    found.append(story)
                elif stop_early:
                    break
        return found, total

    return await asyncio.to_thread(scan)
