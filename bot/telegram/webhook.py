"""Receiving updates by webhook (edge: the standard library's HTTP server, in a thread).

With ``telegram.webhook`` set, every instance listens on its address; a load balancer in front
may send any update to any of them. Telegram signs each request with the secret token given to
``setWebhook`` (header ``X-Telegram-Bot-Api-Secret-Token``); a request without it, or with a
wrong one, is refused with 403 and nothing else happens. An accepted update is handed to
``submit`` (which stores it for the leader, see :mod:`bot.app`) and answered 200 only once that
is done: if storing fails, Telegram is answered 503 and sends the update again, so none is lost.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable, Coroutine
from http.server import BaseHTTPRequestHandler
from typing import Any

from bot.httpserver import ThreadedServer, answer

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_UPDATE = 1 << 20
"""Bytes of one update at most (Telegram's are a few KiB)."""

Submit = Callable[[int, str], Coroutine[Any, Any, None]]
"""Store an update (its id and its JSON text); raises if it could not be stored."""


class WebhookReceiver(ThreadedServer):
    """Accepts Telegram's webhook requests on ``host:port`` at ``path``."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        secret: str,
        submit: Submit,
        loop: asyncio.AbstractEventLoop,
        timeout: float = 10.0,
    ) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.path = path
        self._secret = secret.encode()
        self._submit = submit
        self._loop = loop
        self._timeout = timeout
        self.accepted = 0
        self.refused = 0
        super().__init__(host, port, Handler, "webhook")

    def start(self) -> None:
        super().start()
        log.info("receiving Telegram updates by webhook on port %d", self.port)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.path.split("?", 1)[0] != self.path:
            self._answer(request, 404)
            return
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            self.refused += 1
            log.warning("webhook request without the right secret token refused")
            self._answer(request, 403)
            return
        try:
            length = int(request.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_UPDATE:
            self._answer(request, 413 if length > MAX_UPDATE else 400)
            return
        body = request.rfile.read(length).decode("utf-8", errors="replace")
        try:
            update_id = json.loads(body)["update_id"]
            if not isinstance(update_id, int):
                raise TypeError("update_id is not an integer")
        except (ValueError, KeyError, TypeError):
            self._answer(request, 400)
            return
        future = asyncio.run_coroutine_threadsafe(self._submit(update_id, body), self._loop)
        try:
            future.result(self._timeout)
        except Exception as exc:  # stored nowhere: Telegram must send it again
            future.cancel()
            log.warning(
                "webhook update %d not stored (%s); Telegram will resend it", update_id, exc
            )
            self._answer(request, 503)
            return
        self.accepted += 1
        self._answer(request, 200)

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int) -> None:
        answer(request, status)
