"""The console messenger: with no Telegram token, alerts are printed instead of sent.

Everything else (polling, matching, storage, delivery bookkeeping) runs exactly as with
Telegram, which makes this the first thing a new user sees and a handy dry run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from bot.core.render import Action

log = logging.getLogger(__name__)


class ConsoleMessenger:
    """Implements :class:`bot.core.ports.Messenger` by printing to a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.count = 0

    def is_group(self, chat: str) -> bool:
        return False

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
        self.count += 1
        print(
            f"\n── alert for {chat} #{self.count} " + "─" * 36 + f"\n{plain}",
            file=self.stream,
            flush=True,
        )
        return self.count

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
        print(
            f"\n── update of #{message_id} to {chat} " + "─" * 34 + f"\n{plain}",
            file=self.stream,
            flush=True,
        )

    async def resolve(self, name: str) -> str | None:
        return None

    async def notify_admins(self, text: str) -> None:
        log.warning("admin notice: %s", text)
