"""Every Telegram command, button and membership handler of the bot, registered on a
python-telegram-bot :class:`Application` (edge), and the command menu shown by Telegram.

The handlers are grouped by what they are about: :mod:`bot.telegram.subscriptions`,
:mod:`bot.telegram.preferences`, :mod:`bot.telegram.admin`, and the answers of last resort
(:mod:`bot.telegram.fallback`).
"""

from __future__ import annotations

from telegram import BotCommand
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.telegram import texts
from bot.telegram.admin import AdminCommands
from bot.telegram.fallback import FallbackAnswers
from bot.telegram.history import HistoryCommands
from bot.telegram.preferences import PreferenceCommands
from bot.telegram.subscriptions import SubscriptionCommands


class Commands(
    SubscriptionCommands, PreferenceCommands, AdminCommands, HistoryCommands, FallbackAnswers
):
    """All handlers, bound to the store and the rules in force."""

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        commands = (
            ("start", self.start),
            ("help", self.help),
            ("rules", self.list_rules),
            ("rule", self.rule_card),
            ("latest", self.latest),
            ("search", self.search),
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
            ("settings", self.settings),
        )
        for name, callback in commands:
            application.add_handler(CommandHandler(name, callback))
        self.known_commands = tuple(name for name, _ in commands)
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
        """The command menu: everyone's, or (``admin``) with the admin commands after it."""
        listed = texts.COMMANDS + (texts.ADMIN_COMMANDS if admin else [])
        return [BotCommand(name, description) for name, description in listed]
