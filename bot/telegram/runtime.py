"""The python-telegram-bot application: built, started and stopped here (edge).

Updates are received by long polling (getUpdates) in the same event loop as the scheduler, by
the instance holding the leader lease only (:meth:`TelegramRuntime.receive` turns it on and
off as the role changes; Telegram answers a second consumer with 409). Each update is handled
once across instances: it is recorded before its handler runs (:class:`UpdateLedger`), and one
recorded as finished is skipped when a new leader is given it again. If the Bot API cannot be
reached at start, the bot keeps polling feeds and queueing alerts while the connection is
retried in the background; a rejected token, by contrast, stops the bot at once with a clear
message (never showing the token).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from telegram import BotCommandScopeChat, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor, ContextTypes

from bot.core.chats import split_target
from bot.core.errors import ConfigError, Problem, TransientDeliveryError
from bot.core.render import Action
from bot.telegram.commands import Commands
from bot.telegram.i18n import LANGUAGES, SOURCE, speaking
from bot.telegram.messenger import TelegramMessenger, chat_id, map_error

log = logging.getLogger(__name__)


class UpdateLedger(Protocol):
    """Which updates were handled, across instances."""

    async def begin(self, update_id: int) -> bool:
        """Whether to handle the update (False: handled already)."""
        ...

    async def finish(self, update_id: int) -> None: ...


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Handles updates of different chats at once and each chat's one after the other, so
    answers come in the order of the commands. An update waits for its chat's turn before it
    takes one of the ``workers`` slots, so a chat flooding the bot holds only one of them.
    (PTB's own bound is set high: its slot is taken before our turn comes.) ``admit`` decides
    on arrival whether an update is handled at all (the per-person command budget); ``ledger``
    skips updates handled already (by this or another instance)."""

    def __init__(
        self,
        workers: int,
        admit: Callable[[object], Awaitable[bool]],
        backlog: int = 100_000,
        ledger: UpdateLedger | None = None,
    ) -> None:
        super().__init__(backlog)
        self._workers = asyncio.Semaphore(workers)
        self._admit = admit
        self._ledger = ledger
        self._chats: dict[int | None, tuple[asyncio.Lock, list[int]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        ledger = self._ledger
        if not await self._admit(update):  # decided on arrival, before waiting for a turn
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            if ledger is not None and update_id is not None and await ledger.begin(update_id):
                await ledger.finish(update_id)  # refused counts as handled: never again
            return
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else None
        lock, users = self._chats.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:  # taken in the order the updates came
                if (
                    ledger is not None
                    and update_id is not None
                    and not await ledger.begin(update_id)
                ):
                    log.info("update %s was handled already; skipping it", update_id)
                    if inspect.iscoroutine(coroutine):
                        coroutine.close()
                    return
                async with self._workers:
                    await coroutine
                if ledger is not None and update_id is not None:
                    await ledger.finish(update_id)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._chats[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


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
        send_timeout: float = 30.0,
        retry_interval: float = 15.0,
        ledger: UpdateLedger | None = None,
        webhook: tuple[str, str] | None = None,
    ) -> None:
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(token)
            .base_url(api_url)
            .connect_timeout(request_timeout)
            .read_timeout(request_timeout)
            .write_timeout(request_timeout)
            .get_updates_read_timeout(poll_timeout + request_timeout)
            # Chats are handled side by side (a reply waiting for its chat's turn, one
            # message a second, must not hold up everyone else), each chat's updates in order.
            .concurrent_updates(ChatOrderedProcessor(64, commands.admit, ledger=ledger))
            .build()
        )
        commands.register(self.application)
        self.application.add_error_handler(self._on_error)
        self.commands = commands
        self.admins = tuple(admins)
        self.poll_timeout = poll_timeout
        self.retry_interval = retry_interval
        self.messenger = _ReadyMessenger(
            TelegramMessenger(self.application.bot, admins, send_timeout), self
        )
        commands.notify_admins = self.messenger.notify_admins
        self.ready = asyncio.Event()
        self._starter: asyncio.Task[None] | None = None
        self._started = False
        """The application (its update handling) is running."""
        self._want_updates = False
        self._switching = asyncio.Lock()
        self.webhook = webhook
        """(URL, secret token) in webhook mode: the leader sets the webhook instead of
        polling, and is handed the updates any instance received (:meth:`feed`)."""
        self._webhook_set = False

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, TelegramError):  # the Bot API's answer, not a bug: one line
            log.warning("while handling a Telegram update: %s", map_error("-", error))
            return
        log.error("error while handling a Telegram update", exc_info=error)

    async def _initialize(self) -> None:
        try:
            await self.application.initialize()
        except InvalidToken as exc:
            raise ConfigError(
                [Problem("telegram.token", "Telegram rejected the bot token (TELEGRAM_BOT_TOKEN)")]
            ) from exc

    async def start(self, *, receive_updates: bool = True) -> None:
        """Connect to the Bot API (and receive updates, if asked). A rejected token raises
        :class:`ConfigError`; an unreachable API is retried in the background."""
        self._want_updates = receive_updates
        try:
            await self._initialize()
        except TelegramError as exc:
            log.warning("Telegram is not reachable (%s); retrying in the background", exc)
            self._starter = asyncio.create_task(self._retry_start())
            return
        await self._go()

    async def _retry_start(self) -> None:
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
            await self._go()
            return

    async def _go(self) -> None:
        me = self.application.bot
        log.info("connected to Telegram as @%s", me.username)
        try:
            # A menu per language (Telegram shows the one of the user's language_code, else
            # the default); the admins' own chats show the admin commands too (a scope per
            # chat, in the bot's default language).
            for code in LANGUAGES:
                with speaking(code):
                    await me.set_my_commands(
                        self.commands.menu(), language_code=None if code == SOURCE else code
                    )
            with speaking(self.commands.language):
                for admin in self.admins:
                    await me.set_my_commands(
                        self.commands.menu(admin=True), scope=BotCommandScopeChat(admin)
                    )
        except TelegramError as exc:
            log.warning("could not set the command menu: %s", exc)
        self.ready.set()
        await self._switch()

    async def tell(self, chat: str, html: str) -> bool:
        """Send a chat a notice of the bot's own (not an alert), paced with the replies and
        alerts; False when Telegram would not take it (the chat is left alone then)."""
        if not self.ready.is_set():
            return False
        base, topic = split_target(chat)
        sent = await self.commands.replier.send(
            chat,
            lambda: self.application.bot.send_message(
                chat_id=chat_id(base), message_thread_id=topic, text=html, parse_mode="HTML"
            ),
        )
        return sent is not None

    async def receive(self, on: bool) -> None:
        """Receive updates (getUpdates) or stop receiving them; when not yet connected, the
        wish is carried out on connecting."""
        self._want_updates = on
        if self.ready.is_set():
            await self._switch()

    @property
    def receiving(self) -> bool:
        updater = self.application.updater
        return updater is not None and updater.running

    async def _switch(self) -> None:
        async with self._switching:
            updater = self.application.updater
            assert updater is not None
            if self._want_updates:
                if not self._started:
                    await self.application.start()
                    self._started = True
                if self.webhook is not None:
                    await self._set_webhook()
                elif not updater.running:
                    await updater.start_polling(
                        poll_interval=0.0,
                        timeout=int(self.poll_timeout),
                        allowed_updates=Update.ALL_TYPES,
                        drop_pending_updates=False,
                    )
                    log.info("receiving Telegram updates")
            else:
                self._webhook_set = False
                if updater.running:
                    await updater.stop()
                    log.info("no longer receiving Telegram updates")

    async def _set_webhook(self) -> None:
        if self._webhook_set or self.webhook is None:
            return
        url, secret = self.webhook
        try:
            await self.application.bot.set_webhook(
                url, secret_token=secret, allowed_updates=Update.ALL_TYPES
            )
        except TelegramError as exc:  # tried again on the next call
            log.warning("could not set the webhook: %s", map_error("-", exc))
            return
        self._webhook_set = True
        log.info("webhook set: Telegram sends updates to %s", url)

    async def feed(self, body: str) -> None:
        """Handle an update received by webhook (its JSON text)."""
        update = Update.de_json(json.loads(body), self.application.bot)
        await self.application.update_queue.put(update)

    async def stop(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            await asyncio.gather(self._starter, return_exceptions=True)
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
        language: str | None = None,
    ) -> int | None:
        if not self.runtime.ready.is_set():
            raise TransientDeliveryError(chat, "not connected to Telegram yet")
        return await self.inner.send(
            chat,
            html,
            plain,
            actions,
            silent=silent,
            link_preview=link_preview,
            language=language,
        )

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
        if not self.runtime.ready.is_set():
            raise TransientDeliveryError(chat, "not connected to Telegram yet")
        await self.inner.edit(
            chat,
            message_id,
            html,
            plain,
            actions,
            link_preview=link_preview,
            language=language,
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
