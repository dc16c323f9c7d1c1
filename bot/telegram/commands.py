"""What people can do from Telegram: /start (with deep links), /help, /rules, /subscribe,
/unsubscribe and /mine (edge: python-telegram-bot handlers).

Every answer is HTML with escaped values; an unknown or misspelled rule id gets the closest
matches, never silence. In groups only the group's admins may change its subscriptions.
"""

from __future__ import annotations

import difflib
import html
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from telegram import BotCommand, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.core.ports import SubscriptionStore
from bot.core.rules import Rule, RuleBook
from bot.telegram import texts

log = logging.getLogger(__name__)


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def suggest(wanted: str, known: list[str]) -> list[str]:
    """Known rule ids close to what was typed."""
    return difflib.get_close_matches(wanted.lower(), known, n=3, cutoff=0.5)


class Commands:
    """The command handlers, bound to the store and the rules in force."""

    def __init__(
        self,
        store: SubscriptionStore,
        rules: Callable[[], RuleBook],
        clock: Callable[[], datetime],
        *,
        admins: Sequence[int] = (),
        reload: Callable[[], Awaitable[str]] | None = None,
        status: Callable[[], Awaitable[str]] | None = None,
        feeds: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock
        self.admins = frozenset(admins)
        self.reload = reload
        self.status = status
        self.feeds = feeds

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        for name, callback in (
            ("start", self.start),
            ("help", self.help),
            ("rules", self.list_rules),
            ("subscribe", self.subscribe),
            ("unsubscribe", self.unsubscribe),
            ("mine", self.mine),
            ("reload", self.reload_rules),
            ("status", self.show_status),
            ("feeds", self.show_feeds),
        ):
            application.add_handler(CommandHandler(name, callback))

    @staticmethod
    def menu() -> list[BotCommand]:
        return [BotCommand(name, description) for name, description in texts.COMMANDS]

    async def _reply(self, update: Update, text: str) -> None:
        message = update.effective_message
        if message is not None:
            await message.reply_text(text, parse_mode=ParseMode.HTML)

    def _chat(self, update: Update) -> str:
        assert update.effective_chat is not None
        return str(update.effective_chat.id)

    async def _may_manage(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """In groups only admins change subscriptions; in private chats everyone does."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or chat.type == ChatType.PRIVATE:
            return True
        if user is None:
            return False
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
        except TelegramError as exc:
            log.warning("cannot check admin rights in chat %s: %s", chat.id, exc)
            return False
        if member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER):
            return True
        await self._reply(update, texts.GROUP_ADMINS_ONLY)
        return False

    async def _note_chat(self, update: Update) -> None:
        """A person writing to us means the chat works (again): resume held alerts."""
        chat = update.effective_chat
        if chat is not None:
            title = chat.title or chat.username or chat.first_name
            await self.store.set_chat_status(
                str(chat.id), "active", self.clock(), kind=chat.type, title=title
            )

    def _find(self, rule_id: str) -> tuple[Rule | None, str | None]:
        """The rule with that id, or None and an answer explaining why not."""
        book = self.rules()
        wanted = rule_id.strip().lower()
        rule = book.by_id.get(wanted)
        if rule is not None and rule.subscribable:
            return rule, None
        if rule is not None:
            return None, texts.NOT_SUBSCRIBABLE.format(id=esc(wanted))
        answer = texts.UNKNOWN_RULE.format(id=esc(wanted))
        close = suggest(wanted, [r.id for r in book.rules if r.subscribable])
        if close:
            options = ", ".join(f"<code>{esc(c)}</code>" for c in close)
            answer += texts.DID_YOU_MEAN.format(options=options)
        return None, answer + texts.SEE_RULES

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._note_chat(update)
        if context.args:
            # A deep link t.me/<bot>?start=<rule> subscribes straight away.
            await self._subscribe(update, context, context.args[0])
            return
        await self._reply(update, texts.WELCOME)

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, texts.HELP)

    async def list_rules(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        rules = [r for r in self.rules().rules if r.subscribable]
        if not rules:
            await self._reply(update, texts.NO_RULES)
            return
        mine = set(await self.store.subscriptions_of(self._chat(update)))
        lines = [
            texts.RULE_LINE.format(
                mark="✅" if r.id in mine else "▫️", id=esc(r.id), title=esc(r.title)
            )
            for r in rules
        ]
        await self._send_lines(update, texts.RULES_HEADER, lines)

    async def _send_lines(self, update: Update, header: str, lines: list[str]) -> None:
        """Send a list, split across messages well below Telegram's 4096-character limit."""
        chunk = header
        for line in lines:
            if len(chunk) + len(line) + 1 > 3500:
                await self._reply(update, chunk)
                chunk = ""
            chunk += line + "\n"
        if chunk:
            await self._reply(update, chunk)

    async def subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not context.args:
            await self._reply(update, texts.SUBSCRIBE_USAGE)
            return
        await self._note_chat(update)
        await self._subscribe(update, context, context.args[0])

    async def _subscribe(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, rule_id: str
    ) -> None:
        rule, problem = self._find(rule_id)
        if rule is None:
            await self._reply(update, problem or "")
            return
        if not await self._may_manage(update, context):
            return
        created = await self.store.subscribe(self._chat(update), rule.id, self.clock())
        template = texts.SUBSCRIBED if created else texts.ALREADY_SUBSCRIBED
        await self._reply(update, template.format(title=esc(rule.title)))
        if created:
            log.info("chat %s subscribed to %s", self._chat(update), rule.id)

    async def unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not context.args:
            await self._reply(update, texts.UNSUBSCRIBE_USAGE)
            return
        if not await self._may_manage(update, context):
            return
        wanted = context.args[0].strip().lower()
        removed = await self.store.unsubscribe(self._chat(update), wanted)
        if removed:
            rule = self.rules().by_id.get(wanted)
            title = rule.title if rule else wanted
            await self._reply(update, texts.UNSUBSCRIBED.format(title=esc(title)))
            log.info("chat %s unsubscribed from %s", self._chat(update), wanted)
            return
        answer = texts.NOT_SUBSCRIBED.format(id=esc(wanted))
        close = suggest(wanted, await self.store.subscriptions_of(self._chat(update)))
        if close:
            options = ", ".join(f"<code>{esc(c)}</code>" for c in close)
            answer += texts.DID_YOU_MEAN.format(options=options)
        await self._reply(update, answer)

    async def _is_admin(self, update: Update) -> bool:
        user = update.effective_user
        if user is not None and user.id in self.admins:
            return True
        await self._reply(update, texts.ADMINS_ONLY)
        return False

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
        table = await self.feeds()
        # Monospaced, split well below the 4096 limit without cutting a line.
        chunk: list[str] = []
        for line in table.splitlines():
            if sum(len(x) + 1 for x in chunk) + len(line) > 3500:
                await self._reply(update, f"<pre>{esc(chr(10).join(chunk))}</pre>")
                chunk = []
            chunk.append(line[:300])
        if chunk:
            await self._reply(update, f"<pre>{esc(chr(10).join(chunk))}</pre>")

    async def mine(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        ids = await self.store.subscriptions_of(self._chat(update))
        if not ids:
            await self._reply(update, texts.MINE_EMPTY)
            return
        book = self.rules()
        lines = [
            texts.RULE_LINE.format(
                mark="✅", id=esc(i), title=esc(book.by_id[i].title if i in book.by_id else "?")
            )
            for i in ids
        ]
        await self._send_lines(update, texts.MINE_HEADER, lines)
