"""The common ground of the Telegram command handlers (edge: python-telegram-bot): the store
and rules they act on, how they answer, who may change a chat's settings, and finding a rule by
a possibly misspelled id. The handlers themselves live in :mod:`bot.telegram.subscriptions`,
:mod:`bot.telegram.preferences` and :mod:`bot.telegram.admin`; :mod:`bot.telegram.commands`
puts them together.

Every answer is HTML with escaped values; an unknown or misspelled rule id gets the closest
matches, never silence. In groups only the group's admins may change its settings.
"""

from __future__ import annotations

import difflib
import html
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.core.budget import CommandBudget, Verdict
from bot.core.chats import ChatStatus, split_target, with_topic
from bot.core.digest import ChatPrefs
from bot.core.htmltext import html_to_text
from bot.core.localtime import show_time
from bot.core.ports import CommandStore
from bot.core.rules import Rule, RuleBook
from bot.core.watches import Watch
from bot.telegram import texts
from bot.telegram.i18n import _
from bot.telegram.replies import Replier

log = logging.getLogger(__name__)


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def plain(text: str) -> str:
    """A text of texts.py without its markup: button answers are plain text."""
    return html_to_text(text, single_line=True)[:200]


def when(moment: datetime | None, prefs: ChatPrefs) -> str:
    """A moment as the chat's clock shows it, with the zone's name (its /timezone; UTC
    unless set)."""
    if moment is None:
        return ""
    return show_time(moment, prefs.tz, prefs.tz_name)


def suggest(wanted: str, known: list[str]) -> list[str]:
    """Known rule ids close to what was typed."""
    return difflib.get_close_matches(wanted.lower(), known, n=3, cutoff=0.5)


def did_you_mean(close: Sequence[str]) -> str:
    """The "Did you mean ...?" tail of an answer (empty when nothing is close)."""
    if not close:
        return ""
    return _(texts.DID_YOU_MEAN).format(options=", ".join(f"<code>{esc(c)}</code>" for c in close))


class Handlers:
    """State and helpers shared by every handler."""

    def __init__(
        self,
        store: CommandStore,
        rules: Callable[[], RuleBook],
        clock: Callable[[], datetime],
        *,
        admins: Sequence[int] = (),
        reload: Callable[[], Awaitable[str]] | None = None,
        status: Callable[[], Awaitable[str]] | None = None,
        feeds: Callable[[], Awaitable[str]] | None = None,
        replier: Replier | None = None,
        budget: CommandBudget | None = None,
        watch_limit: int = 20,
        on_watch: Callable[[Watch], object] = lambda watch: None,
        language: str = "en",
    ) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock
        self.admins = frozenset(admins)
        self.reload = reload
        self.status = status
        self.feeds = feeds
        self.replier = replier or Replier()
        """Every reply and edit goes through it: paced with the alerts, 429s waited out."""
        self.budget = budget or CommandBudget()
        self.watch_limit = watch_limit
        """Watches a chat may keep (0: /watch is off)."""
        self.on_watch = on_watch
        """Called with each watch a command changed (puts it in force at once)."""
        self.language = language
        """The language of chats that chose none and whose person's language is not shipped."""
        self.notify_admins: Callable[[str], Awaitable[None]] | None = None
        """Set by the runtime once it can send (membership changes are reported to admins)."""

    async def _reply(
        self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        message = update.effective_message
        if message is not None:
            await self.replier.send(
                str(message.chat_id),
                lambda: message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup),
            )

    async def _edit(
        self, update: Update, text: str | None, markup: InlineKeyboardMarkup | None
    ) -> None:
        """Edit the message a button was pressed under (edits count against the limits)."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        chat = str(query.message.chat.id)
        if text is None:
            await self.replier.send(chat, lambda: query.edit_message_reply_markup(markup))
        else:
            await self.replier.send(
                chat,
                lambda: query.edit_message_text(
                    text, parse_mode=ParseMode.HTML, reply_markup=markup
                ),
            )

    async def admit(self, update: object) -> bool:
        """Whether to handle ``update``, decided when it arrives (not when its chat's turn
        comes): a person over their command budget gets one "slow down" answer, then nothing
        until the budget refills; nobody else is slowed by it."""
        if not isinstance(update, Update):
            return True
        user = update.effective_user
        if user is None or not (update.message or update.callback_query):
            return True
        verdict = self.budget.take(user.id, time.monotonic())
        if verdict is Verdict.ALLOW:
            return True
        if verdict is Verdict.WARN:
            log.info("user %s is over the command budget", user.id)
            query = update.callback_query
            if query is not None:
                try:
                    await query.answer(plain(_(texts.SLOW_DOWN)))
                except TelegramError as exc:
                    log.info("could not answer a button press: %s", exc)
            else:
                await self._reply(update, _(texts.SLOW_DOWN))
        return False

    async def _prefs(self, chat: str) -> ChatPrefs:
        return (await self.store.chat_prefs([chat]))[chat]

    def _chat(self, update: Update) -> str:
        """The target the update speaks for: the chat, or its forum topic when the message
        was written in one (a topic subscribes and sets preferences on its own)."""
        assert update.effective_chat is not None
        chat = str(update.effective_chat.id)
        message = update.effective_message
        if message is not None and message.is_topic_message and message.message_thread_id:
            return with_topic(chat, message.message_thread_id)
        return chat

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
            await self._reply(update, _(texts.GROUP_ADMINS_ONLY))
        return False

    async def _note_chat(self, update: Update) -> None:
        """A person writing to us means the chat works (again): resume held alerts."""
        chat = update.effective_chat
        if chat is not None:
            title = chat.title or chat.username or chat.first_name
            await self.store.set_chat_status(
                str(chat.id), ChatStatus.ACTIVE, self.clock(), kind=chat.type, title=title
            )

    async def _rules_reaching(self, chat: str) -> dict[str, bool]:
        """The rules that reach ``chat``: rule id -> True when by subscription, False when
        only by a rule's ``notify`` list (whatever name it gives the chat there)."""
        aliases = await self.store.aliases()

        def resolved(target: str) -> str:
            base, topic = split_target(target)
            return with_topic(aliases.get(base, base), topic)

        reaching = {
            r.id: False for r in self.rules().rules if chat in {resolved(t) for t in r.notify}
        }
        reaching.update(dict.fromkeys(await self.store.subscriptions_of(chat), True))
        return reaching

    def _find(self, rule_id: str) -> tuple[Rule | None, str | None]:
        """The rule with that id, or None and an answer explaining why not."""
        book = self.rules()
        wanted = rule_id.strip().lower()
        rule = book.by_id.get(wanted)
        if rule is not None and rule.subscribable:
            return rule, None
        if rule is not None:
            return None, _(texts.NOT_SUBSCRIBABLE).format(id=esc(wanted))
        answer = _(texts.UNKNOWN_RULE).format(id=esc(wanted))
        answer += did_you_mean(suggest(wanted, [r.id for r in book.rules if r.subscribable]))
        return None, answer + _(texts.SEE_RULES)

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

    async def _is_admin(self, update: Update) -> bool:
        user = update.effective_user
        if user is not None and user.id in self.admins:
            return True
        await self._reply(update, _(texts.ADMINS_ONLY))
        return False
