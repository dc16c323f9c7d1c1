"""What people can do from Telegram (edge: python-telegram-bot handlers): /start (with deep
links), /help, /rules (pages of buttons), /subscribe, /unsubscribe, /mine, /mute, /unmute, the
buttons under alerts, and for admins /status, /feeds, /stats and /reload. Also the bot's own
membership: removed from a chat, or made a channel's admin.

Every answer is HTML with escaped values; an unknown or misspelled rule id gets the closest
matches, never silence. In groups only the group's admins may change its subscriptions.
"""

from __future__ import annotations

import difflib
import html
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
)

from bot.core.htmltext import html_to_text
from bot.core.ports import SubscriptionStore
from bot.core.render import shorten
from bot.core.rules import Rule, RuleBook
from bot.settings import parse_duration
from bot.telegram import buttons, texts

log = logging.getLogger(__name__)


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def plain(text: str) -> str:
    """A text of texts.py without its markup: button answers are plain text."""
    return html_to_text(text, single_line=True)[:200]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


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
        self.notify_admins: Callable[[str], Awaitable[None]] | None = None
        """Set by the runtime once it can send (membership changes are reported to admins)."""

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
            ("stats", self.show_stats),
            ("mute", self.mute),
            ("unmute", self.unmute),
        ):
            application.add_handler(CommandHandler(name, callback))
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_handler(
            ChatMemberHandler(self.on_membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )

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

    async def _may_manage(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, *, quietly: bool = False
    ) -> bool:
        """In groups only admins change subscriptions; in private chats everyone does.
        Refuses with a reply unless ``quietly`` (a button press answers on its own)."""
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
        if not quietly:
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

    RULES_PER_PAGE = 8

    async def list_rules(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not [r for r in self.rules().rules if r.subscribable]:
            await self._reply(update, texts.NO_RULES)
            return
        text, keyboard = await self._rules_page(self._chat(update), 0)
        message = update.effective_message
        if message is not None:
            await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    async def _rules_page(self, chat: str, page: int) -> tuple[str, InlineKeyboardMarkup]:
        """One page of /rules: the topics, each a button that follows or stops it."""
        rules = [r for r in self.rules().rules if r.subscribable]
        mine = set(await self.store.subscriptions_of(chat))
        size = self.RULES_PER_PAGE
        pages = max(1, -(-len(rules) // size))
        page = min(max(page, 0), pages - 1)
        shown = rules[page * size : (page + 1) * size]
        lines = [
            texts.RULE_LINE.format(
                mark="✅" if r.id in mine else "▫️", id=esc(r.id), title=esc(r.title)
            )
            for r in shown
        ]
        rows = [
            [
                InlineKeyboardButton(
                    (texts.BUTTON_FOLLOWING if r.id in mine else texts.BUTTON_NOT_FOLLOWING).format(
                        title=shorten(r.title, 40)
                    ),
                    callback_data=buttons.data(
                        "unsubscribe" if r.id in mine else "subscribe", r.id, page
                    ),
                )
            ]
            for r in shown
        ]
        nav = []
        if page > 0:
            nav.append(
                InlineKeyboardButton(
                    texts.BUTTON_PREVIOUS, callback_data=buttons.page_data(page - 1)
                )
            )
        if page < pages - 1:
            nav.append(
                InlineKeyboardButton(texts.BUTTON_NEXT, callback_data=buttons.page_data(page + 1))
            )
        if nav:
            rows.append(nav)
        text = texts.RULES_PAGE.format(page=page + 1, pages=pages) + "\n".join(lines)
        return text, InlineKeyboardMarkup(rows)

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
        channel = context.args[1] if len(context.args) > 1 else None
        await self._subscribe(update, context, context.args[0], channel)

    async def _target(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE, channel: str | None
    ) -> tuple[str, str | None] | None:
        """The chat a subscription command is about: this chat, or a channel named after the
        rule (``/subscribe rule @channel``), which only an admin of that channel may change and
        where the bot must be an admin to post. (chat id, channel name) or None if refused."""
        if channel is None:
            if not await self._may_manage(update, context):
                return None
            return self._chat(update), None
        user = update.effective_user
        name = channel if channel.startswith("@") else f"@{channel}"
        try:
            chat = await context.bot.get_chat(name)
            member = await context.bot.get_chat_member(chat.id, user.id) if user else None
            me = await context.bot.get_chat_member(chat.id, context.bot.id)
        except TelegramError as exc:
            log.info("cannot check channel %s: %s", name, exc)
            await self._reply(update, texts.CHANNEL_UNKNOWN.format(channel=esc(name)))
            return None
        admin = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        if member is None or member.status not in admin:
            await self._reply(update, texts.CHANNEL_ADMINS_ONLY.format(channel=esc(name)))
            return None
        if me.status != ChatMemberStatus.ADMINISTRATOR:
            await self._reply(update, texts.CHANNEL_BOT_NOT_ADMIN.format(channel=esc(name)))
            return None
        await self.store.set_chat_status(
            str(chat.id), "active", self.clock(), kind=chat.type, title=chat.title or name
        )
        return str(chat.id), name

    async def _subscribe(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        rule_id: str,
        channel: str | None = None,
    ) -> None:
        rule, problem = self._find(rule_id)
        if rule is None:
            await self._reply(update, problem or "")
            return
        target = await self._target(update, context, channel)
        if target is None:
            return
        chat, name = target
        created = await self.store.subscribe(chat, rule.id, self.clock())
        if name is not None:
            template = texts.CHANNEL_SUBSCRIBED if created else texts.CHANNEL_ALREADY_SUBSCRIBED
        else:
            template = texts.SUBSCRIBED if created else texts.ALREADY_SUBSCRIBED
        await self._reply(update, template.format(title=esc(rule.title), channel=esc(name)))
        if created:
            log.info("chat %s subscribed to %s", chat, rule.id)

    async def unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not context.args:
            await self._reply(update, texts.UNSUBSCRIBE_USAGE)
            return
        channel = context.args[1] if len(context.args) > 1 else None
        target = await self._target(update, context, channel)
        if target is None:
            return
        chat, name = target
        wanted = context.args[0].strip().lower()
        removed = await self.store.unsubscribe(chat, wanted)
        if removed:
            rule = self.rules().by_id.get(wanted)
            title = esc(rule.title if rule else wanted)
            template = texts.CHANNEL_UNSUBSCRIBED if name else texts.UNSUBSCRIBED
            await self._reply(update, template.format(title=title, channel=esc(name)))
            log.info("chat %s unsubscribed from %s", chat, wanted)
            return
        answer = texts.NOT_SUBSCRIBED.format(id=esc(wanted))
        close = suggest(wanted, await self.store.subscriptions_of(chat))
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
        chat_muted, subscriptions = await self.store.chat_settings(self._chat(update))
        if not subscriptions:
            await self._reply(update, texts.MINE_EMPTY)
            return
        book = self.rules()
        now = self.clock()
        lines = []
        for rule_id, muted in subscriptions.items():
            rule = book.by_id.get(rule_id)
            line = texts.RULE_LINE.format(
                mark="✅", id=esc(rule_id), title=esc(rule.title if rule else "?")
            )
            if muted is not None and muted > now:
                line += texts.MUTED_UNTIL.format(until=_when(muted))
            lines.append(line)
        header = texts.MINE_HEADER
        if chat_muted is not None and chat_muted > now:
            header = texts.MINE_ALL_MUTED.format(until=_when(chat_muted)) + header
        await self._send_lines(update, header, lines)

    # -- buttons ------------------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or query.data is None or chat is None:
            return
        kind, rule, page = buttons.parse(query.data, self.rules().rules)
        chat_id = str(chat.id)
        if kind == "page":
            text, keyboard = await self._rules_page(chat_id, page or 0)
            await query.answer()
            await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
            return
        if rule is None or kind == "unknown":
            await query.answer(texts.BUTTON_GONE, show_alert=True)
            return
        if not await self._may_manage(update, context, quietly=True):
            await query.answer(plain(texts.GROUP_ADMINS_ONLY), show_alert=True)
            return
        now = self.clock()
        if kind == "subscribe":
            created = await self.store.subscribe(chat_id, rule.id, now)
            answer = texts.SUBSCRIBED if created else texts.ALREADY_SUBSCRIBED
        elif kind == "unsubscribe":
            removed = await self.store.unsubscribe(chat_id, rule.id)
            answer = texts.UNSUBSCRIBED if removed else texts.NOT_SUBSCRIBED
        else:  # mute, from under an alert: for 24 hours
            until = now + timedelta(hours=24)
            muted = await self.store.mute(chat_id, rule.id, until, now)
            answer = texts.MUTED if muted else texts.NOT_SUBSCRIBED
        await query.answer(
            plain(
                answer.format(
                    title=esc(rule.title), id=esc(rule.id), until=_when(now + timedelta(hours=24))
                )
            )
        )
        if page is not None:  # a /rules page: show the new state
            text, keyboard = await self._rules_page(chat_id, page)
            await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        elif kind == "unsubscribe":  # under an alert: the buttons have done their job
            await query.edit_message_reply_markup(reply_markup=None)
        log.info("chat %s pressed %s on %s", chat_id, kind, rule.id)

    # -- mute -------------------------------------------------------------------------

    async def mute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        if not args:
            await self._reply(update, texts.MUTE_USAGE)
            return
        duration = args[1] if len(args) > 1 else "24h"
        try:
            length = parse_duration(duration)
        except ValueError:
            await self._reply(update, texts.BAD_DURATION.format(value=esc(duration)))
            return
        await self._set_mute(update, context, args[0], self.clock() + length)

    async def unmute(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not context.args:
            await self._reply(update, texts.UNMUTE_USAGE)
            return
        await self._set_mute(update, context, context.args[0], None)

    async def _set_mute(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        target: str,
        until: datetime | None,
    ) -> None:
        if not await self._may_manage(update, context):
            return
        chat = self._chat(update)
        now = self.clock()
        wanted = target.strip().lower()
        if wanted == "all":
            await self.store.mute(chat, None, until, now)
            text = texts.MUTED_ALL if until else texts.UNMUTED_ALL
            await self._reply(update, text.format(until=_when(until)))
            return
        if not await self.store.mute(chat, wanted, until, now):
            answer = texts.NOT_SUBSCRIBED.format(id=esc(wanted))
            close = suggest(wanted, await self.store.subscriptions_of(chat))
            if close:
                options = ", ".join(f"<code>{esc(c)}</code>" for c in close)
                answer += texts.DID_YOU_MEAN.format(options=options)
            await self._reply(update, answer)
            return
        rule = self.rules().by_id.get(wanted)
        title = esc(rule.title if rule else wanted)
        text = texts.MUTED if until else texts.UNMUTED
        await self._reply(update, text.format(title=title, until=_when(until)))

    # -- admins -------------------------------------------------------------------------

    async def show_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self._is_admin(update):
            return
        days = 7
        rows = await self.store.sent_per_rule_and_day(self.clock() - timedelta(days=days))
        if not rows:
            await self._reply(update, texts.STATS_NONE.format(days=days))
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
        await self._send_lines(update, texts.STATS_HEADER.format(days=days), lines)

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
        if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            reason = "the bot was removed or blocked"
            await self.store.set_chat_status(
                chat_id, "blocked", now, reason=reason, kind=chat.type, title=title
            )
            notice = texts.REMOVED_FROM_CHAT if chat.type != ChatType.PRIVATE else None
        elif chat.type == ChatType.CHANNEL and status != ChatMemberStatus.ADMINISTRATOR:
            await self.store.set_chat_status(
                chat_id,
                "blocked",
                now,
                reason="the bot is not an admin of this channel",
                kind=chat.type,
                title=title,
            )
            notice = texts.NOT_CHANNEL_ADMIN
        else:
            await self.store.set_chat_status(chat_id, "active", now, kind=chat.type, title=title)
            notice = None
        log.info("bot membership in chat %s is now %s", chat_id, status)
        if notice is not None and self.notify_admins is not None:
            await self.notify_admins(html_to_text(notice.format(chat=name)))
