"""For the bot's administrators (user ids in the config): /status, /feeds, /stats and /reload;
and the bot's own membership changes (removed from a chat, made or unmade a channel's admin),
which hold or resume a chat's alerts and are reported to the administrators."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ContextTypes

from bot.core.chats import ChatStatus
from bot.core.htmltext import html_to_text
from bot.telegram import texts
from bot.telegram.handlers import Handlers, esc
from bot.telegram.i18n import _

log = logging.getLogger(__name__)


class AdminCommands(Handlers):
    """Administration and membership."""

    async def reload_rules(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._is_admin(update) or self.reload is None:
            return
        report = await self.reload()
        await self._reply(update, esc(report))

    async def show_status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._is_admin(update) or self.status is None:
            return
        await self._reply(update, esc(await self.status()))

    async def show_feeds(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._is_admin(update) or self.feeds is None:
            return
        cards = (await self.feeds()).split("\n")
        # Split well below the 4096 limit, never inside a feed's card.
        chunk: list[str] = []
        for line in cards:
            new_card = not line.startswith(" ")
            if new_card and sum(len(x) + 1 for x in chunk) + len(line) > 3500:
                await self._reply(update, esc("\n".join(chunk)))
                chunk = []
            chunk.append(line[:300])
        if chunk:
            await self._reply(update, esc("\n".join(chunk)))

    async def show_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._is_admin(update):
            return
        days = 7
        rows = await self.store.sent_per_rule_and_day(self.clock() - timedelta(days=days))
        if not rows:
            await self._reply(update, _(texts.STATS_NONE).format(days=days))
            return
        per_rule: dict[str, int] = {}
        per_day: dict[str, int] = {}
        for rule_id, day, count in rows:
            per_rule[rule_id] = per_rule.get(rule_id, 0) + count
            per_day[day] = per_day.get(day, 0) + count
        lines = [
            f"{esc(rule_id)}: {count}"
            for rule_id, count in sorted(per_rule.items(), key=lambda kv: -kv[1])
        ]
        lines.append("")
        lines.extend(f"{day}: {count}" for day, count in sorted(per_day.items()))
        await self._send_lines(update, _(texts.STATS_HEADER).format(days=days), lines)

    # -- the bot's own membership ----------------------------------------------------------

    async def on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was added to, removed from, or had its rights changed in a chat."""
        change = update.my_chat_member
        if change is None:
            return
        chat = change.chat
        status = change.new_chat_member.status
        chat_id = str(chat.id)
        title = chat.title or chat.username or chat.first_name
        name = f"@{chat.username}" if chat.username else (chat.title or chat_id)
        now = self.clock()
        if chat.username and chat.type != ChatType.PRIVATE:
            # Alerts held under the chat's public name now belong to its id.
            await self.store.merge_chat(f"@{chat.username}", chat_id, now, reason=f"is {chat_id}")
        if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            reason = "the bot was removed or blocked"
            await self.store.set_chat_status(
                chat_id, ChatStatus.BLOCKED, now, reason=reason, kind=chat.type, title=title
            )
            notice = _(texts.REMOVED_FROM_CHAT) if chat.type != ChatType.PRIVATE else None
        elif chat.type == ChatType.CHANNEL and status != ChatMemberStatus.ADMINISTRATOR:
            await self.store.set_chat_status(
                chat_id,
                ChatStatus.BLOCKED,
                now,
                reason="the bot is not an admin of this channel",
                kind=chat.type,
                title=title,
            )
            notice = _(texts.NOT_CHANNEL_ADMIN)
        else:
            await self.store.set_chat_status(
                chat_id, ChatStatus.ACTIVE, now, kind=chat.type, title=title
            )
            notice = None
        log.info("bot membership in chat %s is now %s", chat_id, status)
        if notice is not None and self.notify_admins is not None:
            await self.notify_admins(html_to_text(notice.format(chat=name)))
