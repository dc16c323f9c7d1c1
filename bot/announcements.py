"""Telling subscribers, once, that a topic they follow is gone (use-case).

When the rules in force no longer hold a rule that chats subscribed to (its file edited or
removed), each of those chats gets one message saying so, in its language, and the topic leaves
its lists. Once: the store records the rule as gone in the same statement that decides who
announces it, so several instances reloading the same files announce it once between them, and
a restart does not announce it again. The subscriptions themselves are kept: if the rule comes
back they hold again (and a later removal is announced again).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol

from bot.core.digest import ChatPrefs
from bot.core.errors import DeliveryError, StorageError

log = logging.getLogger(__name__)


class GoneStore(Protocol):
    async def gone_rules(self, in_force: Iterable[str], now: datetime) -> dict[str, list[str]]: ...
    async def chat_prefs(self, chats: Iterable[str]) -> dict[str, ChatPrefs]: ...


Say = Callable[[str, str, ChatPrefs], str]
"""(rule id, its title, the chat's preferences) -> the notice, as Telegram HTML."""
Send = Callable[[str, str], Awaitable[object]]
"""(chat, HTML) -> sent, paced like every other message."""


async def announce_gone(
    store: GoneStore,
    in_force: Iterable[str],
    titles: Mapping[str, str],
    say: Say,
    send: Send,
    now: datetime,
) -> int:
    """Announce every subscribed rule that is no longer in force, once; returns the number of
    notices sent. A chat that cannot be reached is skipped (its trouble delays nobody)."""
    try:
        gone = await store.gone_rules(in_force, now)
    except StorageError as exc:
        log.warning("cannot check for removed topics now: %s", exc)
        return 0
    if not gone:
        return 0
    chats = {chat for subscribed in gone.values() for chat in subscribed}
    try:
        prefs = await store.chat_prefs(chats)
    except StorageError as exc:  # recorded as gone already: tell them in the default language
        log.warning("chat languages unknown now, notices in the default one: %s", exc)
        prefs = {}
    sent = 0
    for rule_id, subscribed in gone.items():
        log.info("topic %s is gone: telling its %d subscribers", rule_id, len(subscribed))
        for chat in subscribed:
            notice = say(rule_id, titles.get(rule_id, rule_id), prefs.get(chat, ChatPrefs()))
            try:
                await send(chat, notice)
            except DeliveryError as exc:
                log.info("could not tell chat %s that %s is gone: %s", chat, rule_id, exc)
                continue
            sent += 1
    return sent
