"""Every Telegram command, button and membership handler of the bot, registered on a
python-telegram-bot :class:`Application` (edge), and the command menu shown by Telegram.

The handlers are grouped by what they are about: :mod:`bot.telegram.subscriptions`,
:mod:`bot.telegram.preferences`, :mod:`bot.telegram.admin`, and the answers of last resort
(:mod:`bot.telegram.fallback`).
"""

from __future__ import annotations

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.telegram import i18n
from bot.telegram.admin import AdminCommands
from bot.telegram.fallback import FallbackAnswers
from bot.telegram.history import HistoryCommands
from bot.telegram.languages import LanguageCommands
from bot.telegram.preferences import PreferenceCommands
from bot.telegram.subscriptions import SubscriptionCommands
from bot.telegram.watches import WatchCommands


class Commands(
    SubscriptionCommands,
    WatchCommands,
    LanguageCommands,
    PreferenceCommands,
    AdminCommands,
    HistoryCommands,
    FallbackAnswers,
):
    """All handlers, bound to the store and the rules in force."""

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        # First, for every update: the language the answers are written in.
        application.add_handler(TypeHandler(Update, self.speak), group=-1)
        commands = (
            ("start", self.start),
            ("help", self.help),
            ("rules", self.list_rules),
            ("rule", self.rule_card),
            ("latest", self.latest),
            ("search", self.search),
            ("watch", self.watch),
            ("watches", self.watches),
            ("language", self.choose_language),
            ("subscribe", self.subscribe),
            ("unsubscribe", self.unsubscribe),
            ("mine", self.mine),
            ("reload", self.reload_rules),
            ("status", self.show_status),
            ("feeds", self.show_feeds),
            ("stats", self.show_stats),
            ("mute", self.mute),
            ("unmute", self.unmute),
            ("digest", self.digest),
            ("quiet", self.quiet),
            ("timezone", self.timezone),
            ("grouping", self.grouping),
            ("settings", self.settings),
        )
        for name, callback in commands:
            application.add_handler(CommandHandler(name, callback))
        self.known_commands = tuple(name for name, _ in commands)
        application.add_handler(CallbackQueryHandler(self.on_watch_button, pattern=r"^w:"))
        application.add_handler(CallbackQueryHandler(self.on_language_button, pattern=r"^l:"))
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_handler(
            ChatMemberHandler(self.on_membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        # Last: what no command above took, in a private chat (see bot.telegram.fallback).
        private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
        application.add_handler(MessageHandler(private & filters.COMMAND, self.unknown_command))
        application.add_handler(MessageHandler(private & filters.TEXT, self.plain_text))

    @staticmethod
    def menu(*, admin: bool = False) -> list[BotCommand]:
        """The command menu in the current language: everyone's, or (``admin``) with the
        admin commands after it."""
        listed = i18n.commands() + (i18n.commands(admin=True) if admin else [])
        return [BotCommand(name, description) for name, description in listed]
