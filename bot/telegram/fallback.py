"""What the bot answers to what it has no command for, in a private chat: an unknown
command (with the commands close to it) or plain text. Nobody writing to the bot is met
with silence. In groups it stays quiet: commands there may be for other bots."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import texts
from bot.telegram.handlers import Handlers, esc, suggest
from bot.telegram.i18n import _


class FallbackAnswers(Handlers):
    """The answers of last resort."""

    known_commands: tuple[str, ...] = ()
    """Every command the bot has (set where they are registered)."""

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        word = (message.text or "").split(maxsplit=1)[0] if message and message.text else "/"
        command = word.split("@", 1)[0]
        close = suggest(command.lstrip("/"), list(self.known_commands))
        answer = _(texts.UNKNOWN_COMMAND).format(command=esc(command))
        if close:
            answer += _(texts.DID_YOU_MEAN).format(options=", ".join(f"/{c}" for c in close))
        await self._reply(update, answer + _(texts.SEE_HELP))

    async def plain_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, _(texts.PLAIN_TEXT))
