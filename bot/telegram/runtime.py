"""The python-telegram-bot application: built, started and stopped here (edge).

Updates are received by long polling (getUpdates) in the same event loop as the scheduler. If the
Bot API cannot be reached at start, the bot keeps polling feeds and queueing alerts while the
connection is retried in the background; a rejected token, by contrast, stops the bot at once
with a clear message (never showing the token).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.core.errors import ConfigError, Problem, TransientDeliveryError
from bot.core.render import Action
from bot.telegram.commands import Commands
from bot.telegram.messenger import TelegramMessenger

log = logging.getLogger(__name__)


class TelegramRuntime:
    """Owns the PTB :class:`Application`; exposes a :class:`TelegramMessenger` for alerts."""

    def __init__(
        self,
        *,
        token: str,
        api_url: str,
        admins: Sequence[int],
        commands: Commands,
        poll_timeout: float = 30.0,
        request_timeout: float = 10.0,
        retry_interval: float = 15.0,
    ) -> None:
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(token)
            .base_url(api_url)
            .connect_timeout(request_timeout)
            .read_timeout(request_timeout)
            .write_timeout(request_timeout)
            .get_updates_read_timeout(poll_timeout + request_timeout)
            .build()
        )
        commands.register(self.application)
        self.application.add_error_handler(self._on_error)
        self.commands = commands
        self.poll_timeout = poll_timeout
        self.retry_interval = retry_interval
        self.messenger = _ReadyMessenger(TelegramMessenger(self.application.bot, admins), self)
        commands.notify_admins = self.messenger.notify_admins
        self.ready = asyncio.Event()
        self._starter: asyncio.Task[None] | None = None
        self._receiving = False

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling a Telegram update", exc_info=context.error)

    async def _initialize(self) -> None:
        try:
            await self.application.initialize()
        except InvalidToken as exc:
            raise ConfigError(
                [Problem("telegram.token", "Telegram rejected the bot token (TELEGRAM_BOT_TOKEN)")]
            ) from exc

    async def start(self, *, receive_updates: bool = True) -> None:
        """Connect to the Bot API. A rejected token raises :class:`ConfigError`; an unreachable
        API is retried in the background."""
        try:
            await self._initialize()
        except TelegramError as exc:
            log.warning("Telegram is not reachable (%s); retrying in the background", exc)
            self._starter = asyncio.create_task(self._retry_start(receive_updates))
            return
        await self._go(receive_updates)

    async def _retry_start(self, receive_updates: bool) -> None:
        while True:
            await asyncio.sleep(self.retry_interval)
            try:
                await self._initialize()
            except TelegramError as exc:
                log.warning("Telegram still not reachable: %s", exc)
                continue
            except ConfigError as exc:
                log.error("%s", exc)
                return
            await self._go(receive_updates)
            return

    async def _go(self, receive_updates: bool) -> None:
        me = self.application.bot
        log.info("connected to Telegram as @%s", me.username)
        try:
            await me.set_my_commands(self.commands.menu())
        except TelegramError as exc:
            log.warning("could not set the command menu: %s", exc)
        if receive_updates:
            await self.application.start()
            updater = self.application.updater
            assert updater is not None
            await updater.start_polling(
                poll_interval=0.0,
                timeout=int(self.poll_timeout),
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
            )
            self._receiving = True
        self.ready.set()

    async def stop(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            await asyncio.gather(self._starter, return_exceptions=True)
        if self._receiving:
            updater = self.application.updater
            if updater is not None and updater.running:
                await updater.stop()
            if self.application.running:
                await self.application.stop()
        if self.ready.is_set():
            await self.application.shutdown()


class _ReadyMessenger:
    """Answers "not yet" (a transient error, retried later) until the Bot API is connected."""

    def __init__(self, inner: TelegramMessenger, runtime: TelegramRuntime) -> None:
        self.inner = inner
        self.runtime = runtime

    def is_group(self, chat: str) -> bool:
        return self.inner.is_group(chat)

    async def send(
        self,
        chat: str,
        html: str | None,
        plain: str,
        actions: Sequence[Action] = (),
        *,
        silent: bool = False,
        link_preview: bool = False,
    ) -> int | None:
        if not self.runtime.ready.is_set():
            raise TransientDeliveryError(chat, "not connected to Telegram yet")
        return await self.inner.send(
            chat, html, plain, actions, silent=silent, link_preview=link_preview
        )

    async def resolve(self, name: str) -> str | None:
        if not self.runtime.ready.is_set():
            return None
        return await self.inner.resolve(name)

    async def notify_admins(self, text: str) -> None:
        if self.runtime.ready.is_set():
            await self.inner.notify_admins(text)
        else:
            log.warning("admin notice (Telegram not connected): %s", text)
