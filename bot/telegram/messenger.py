"""Sending messages with python-telegram-bot, with its errors mapped to the project's own.

The mapping is what lets the sender act on the Bot API's answers: 429 -> :class:`RateLimited`,
a migrated group -> :class:`ChatMoved`, 403 -> :class:`ChatUnavailable`, a 400 about the text
-> :class:`BadMessage`, time-outs and network or server errors -> :class:`TransientDeliveryError`.
"""

from __future__ import annotations

import html
import logging
import re
import warnings
from collections.abc import Sequence
from datetime import timedelta

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.core.chats import TARGET_RE, split_target
from bot.core.errors import (
    AnswerLost,
    BadMessage,
    ChatMoved,
    ChatUnavailable,
    DeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from bot.core.render import Action
from bot.telegram import texts
from bot.telegram.buttons import alert_keyboard
from bot.telegram.i18n import SOURCE, _, speaking

log = logging.getLogger(__name__)
# PTB logs the raw body of every answer that is not JSON (a proxy's HTML error page) at ERROR,
# before raising; the error is reported once, shortened, by whoever handles it.
logging.getLogger("telegram.request").setLevel(logging.CRITICAL)

# A network error after the request was sent: the connection was lost while waiting.
_LOST = re.compile(r"disconnected|connection (?:lost|closed|reset)|RemoteProtocolError", re.I)
_RAW_BODY = re.compile(r"\.?\s*Parsing the server response .*$", re.DOTALL)


def short(message: str) -> str:
    """A Bot API error message fit for one log line: no server page, no newlines."""
    text = " ".join(_RAW_BODY.sub("", message).split())
    return text if len(text) <= 200 else text[:199] + "…"


# 400 answers that mean the chat, not the message, is the problem.
_CHAT_GONE = (
    "chat not found",
    "user not found",
    "peer_id_invalid",
    "group chat was deactivated",
    "need administrator rights",
    "not enough rights",
    "have no rights",
)


def chat_id(chat: str) -> int | str:
    """Our chat string (without a topic) as the Bot API wants it: an int id or ``@username``."""
    return chat if chat.startswith("@") else int(chat)


def is_group(chat: str) -> bool:
    """Groups, supergroups and channels have negative ids; ``@username`` targets are public
    channels or groups. Both are held to the per-group limit."""
    return chat.startswith(("@", "-"))


def _retry_after(exc: RetryAfter) -> float:
    # PTB 22 warns on reading retry_after unless PTB_TIMEDELTA is set; either type is handled.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def map_error(chat: str, exc: TelegramError) -> DeliveryError:
    """The project error for a Bot API error about ``chat``."""
    if isinstance(exc, RetryAfter):
        return RateLimited(chat, _retry_after(exc))
    if isinstance(exc, ChatMigrated):
        return ChatMoved(chat, str(exc.new_chat_id))
    if isinstance(exc, Forbidden):
        return ChatUnavailable(chat, short(exc.message))
    if isinstance(exc, BadRequest):
        if any(marker in exc.message.lower() for marker in _CHAT_GONE):
            return ChatUnavailable(chat, short(exc.message))
        return BadMessage(chat, short(exc.message))
    if isinstance(exc, TimedOut) or (
        isinstance(exc, NetworkError) and _LOST.search(exc.message or "")
    ):
        return AnswerLost(chat, f"no answer from Telegram ({type(exc).__name__})")
    if isinstance(exc, InvalidToken):
        return TransientDeliveryError(chat, "the bot token was rejected (check TELEGRAM_BOT_TOKEN)")
    return TransientDeliveryError(chat, f"{type(exc).__name__}: {short(exc.message)}")


class TelegramMessenger:
    """Implements :class:`bot.core.ports.Messenger` on a python-telegram-bot :class:`Bot`."""

    def __init__(self, bot: Bot, admins: Sequence[int], send_timeout: float = 30.0) -> None:
        self.bot = bot
        self.admins = tuple(admins)
        self.send_timeout = send_timeout

    def is_group(self, chat: str) -> bool:
        return is_group(chat)

    async def send(
        self,
        chat: str,
        html: str | None,
        plain: str,
        actions: Sequence[Action] = (),
        *,
        silent: bool = False,
        link_preview: bool = False,
        language: str | None = None,
    ) -> int | None:
        if not TARGET_RE.match(chat):
            # e.g. alerts queued for the console before a token was configured
            raise ChatUnavailable(chat, "not a Telegram chat")
        base, topic = split_target(chat)
        with speaking(language or SOURCE):
            keyboard = alert_keyboard(actions)
        try:
            message = await self.bot.send_message(
                chat_id=chat_id(base),
                message_thread_id=topic,
                text=html if html is not None else plain,
                parse_mode=ParseMode.HTML if html is not None else None,
                link_preview_options=LinkPreviewOptions(is_disabled=not link_preview),
                disable_notification=silent,
                reply_markup=keyboard,
                read_timeout=self.send_timeout,
            )
        except TelegramError as exc:
            raise map_error(chat, exc) from exc
        return message.message_id

    async def edit(
        self,
        chat: str,
        message_id: int,
        html: str | None,
        plain: str,
        actions: Sequence[Action] = (),
        *,
        link_preview: bool = False,
        language: str | None = None,
    ) -> None:
        base, _topic = split_target(chat)
        with speaking(language or SOURCE):
            keyboard = alert_keyboard(actions)
        try:
            await self.bot.edit_message_text(
                chat_id=chat_id(base),
                message_id=message_id,
                text=html if html is not None else plain,
                parse_mode=ParseMode.HTML if html is not None else None,
                link_preview_options=LinkPreviewOptions(is_disabled=not link_preview),
                reply_markup=keyboard,
                read_timeout=self.send_timeout,
            )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return
            raise map_error(chat, exc) from exc
        except TelegramError as exc:
            raise map_error(chat, exc) from exc

    async def resolve(self, name: str) -> str | None:
        """The numeric id of the chat ``@name`` (getChat), or None if Telegram cannot say."""
        try:
            chat = await self.bot.get_chat(name)
        except TelegramError as exc:
            log.info("cannot resolve chat %s now: %s", name, map_error(name, exc))
            return None
        return str(chat.id)

    async def notify_admins(self, text: str) -> None:
        for admin in self.admins:
            try:
                await self.bot.send_message(
                    chat_id=admin,
                    text=_(texts.ADMIN_NOTICE).format(text=html.escape(text)),
                    parse_mode=ParseMode.HTML,
                )
            except TelegramError as exc:
                log.warning("could not notify admin %s: %s", admin, map_error(str(admin), exc))
