"""Replies to people, within Telegram's limits (edge: python-telegram-bot).

Every answer to a command and every edit of a message the bot sent goes through
:class:`Replier`, which shares the alerts' :class:`~bot.core.pacing.Pacer`: replies and alerts
together keep to about one message a second per chat, twenty a minute per group and thirty a
second overall. A 429 pauses every send for its ``retry_after`` and the reply is tried again; any
other Bot API error is logged on one line, never as a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import RetryAfter, TelegramError

from bot.core.errors import RateLimited
from bot.core.pacing import Pacer
from bot.telegram.messenger import is_group, map_error

log = logging.getLogger(__name__)

T = TypeVar("T")


class Replier:
    def __init__(
        self,
        pacer: Pacer | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        attempts: int = 4,
    ) -> None:
        self.pacer = pacer or Pacer()
        self.monotonic = monotonic
        self.attempts = attempts

    async def send(self, chat: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``call`` (one Bot API request posting to ``chat``) when the limits allow it;
        its result, or None if Telegram would not take it."""
        group = is_group(chat)
        for _ in range(self.attempts):
            while True:
                wait = self.pacer.delay(chat, group, self.monotonic())
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self.pacer.begin(chat, group, self.monotonic())
            try:
                return await call()
            except RetryAfter as exc:
                error = map_error(chat, exc)
                seconds = error.retry_after if isinstance(error, RateLimited) else 1.0
                self.pacer.pause(seconds, self.monotonic())
                log.warning("telegram rate limit on a reply to %s: waiting %gs", chat, seconds)
            except TelegramError as exc:
                log.warning("reply to %s not sent: %s", chat, map_error(chat, exc))
                return None
            finally:
                self.pacer.end(chat, group, self.monotonic())
        log.warning("reply to %s not sent: still rate limited", chat)
        return None
