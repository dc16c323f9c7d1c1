"""The language the bot writes in, per chat (edge: Telegram): chosen with ``/language`` (or its
buttons), else the sender's Telegram ``language_code``, else the configured default; set before
any handler answers an update (:meth:`LanguageCommands.speak`)."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.core.errors import StorageError
from bot.telegram import i18n, texts
from bot.telegram.handlers import Handlers, esc, plain
from bot.telegram.i18n import _

log = logging.getLogger(__name__)

AUTO = "auto"


class LanguageCommands(Handlers):
    """/language, its buttons, and the language of every answer."""

    async def speak(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Write the answers to ``update`` in the chat's language (the first handler of every
        update). A private chat's person's Telegram language is remembered, for the alerts."""
        if not isinstance(update, Update):
            return
        user = update.effective_user
        code = (user.language_code or "")[:16] if user else ""
        chosen = None
        chat = update.effective_chat
        if chat is not None:
            target = self._chat(update)
            try:
                prefs = await self._prefs(target)
                chosen = prefs.language
                if chat.type == ChatType.PRIVATE and code and prefs.user_language != code:
                    await self.store.set_user_language(target, code, self.clock())
            except StorageError as exc:  # answer anyway, in the person's language
                log.info("language of chat %s unknown: %s", target, exc)
        i18n.use(i18n.pick(chosen, code, self.language))

    def _keyboard(self) -> InlineKeyboardMarkup:
        row = [
            InlineKeyboardButton(name, callback_data=f"l:{c}") for c, name in i18n.LANGUAGES.items()
        ]
        auto = InlineKeyboardButton(_(texts.BUTTON_LANGUAGE_AUTO), callback_data=f"l:{AUTO}")
        return InlineKeyboardMarkup([row, [auto]])

    async def choose_language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/language: the language in use and buttons to change it; /language ru|auto."""
        args = context.args or []
        if not args:
            prefs = await self._prefs(self._chat(update))
            how = "" if prefs.language else _(texts.LANGUAGE_FROM_TELEGRAM)
            name = i18n.LANGUAGES[i18n.language()]
            answer = _(texts.LANGUAGE_CURRENT).format(name=name, how=how)
            await self._reply(update, answer, self._keyboard())
            return
        if not await self._may_manage(update, context):
            return
        await self._reply(update, await self._choose(update, args[0].strip().lower()))

    async def _choose(self, update: Update, value: str) -> str:
        """Record the choice and answer in the new language (or say what is known)."""
        target = self._chat(update)
        if value == AUTO:
            await self.store.set_language(target, None, self.clock())
            user = update.effective_user
            i18n.use(i18n.pick(user.language_code if user else None, self.language))
            log.info("chat %s: language follows its people", target)
            return _(texts.LANGUAGE_AUTO)
        code = i18n.pick(value)
        if value.replace("_", "-").split("-")[0] != code:
            known = ", ".join(f"<code>{c}</code>" for c in i18n.LANGUAGES)
            return _(texts.UNKNOWN_LANGUAGE).format(value=esc(value), known=known)
        await self.store.set_language(target, code, self.clock())
        i18n.use(code)
        log.info("chat %s: language %s", target, code)
        return _(texts.LANGUAGE_SET).format(name=i18n.LANGUAGES[code])

    async def on_language_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        if not await self._may_manage(update, context, quietly=True):
            await query.answer(plain(_(texts.GROUP_ADMINS_ONLY)), show_alert=True)
            return
        answer = await self._choose(update, query.data.removeprefix("l:"))
        await query.answer()
        await self._edit(update, answer, None)
