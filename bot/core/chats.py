"""Chat targets as the bot stores them: a numeric chat id (``1001``, ``-1001234``) or a public
``@username``, optionally followed by a forum topic: ``-1001234/42`` posts in topic 42 of that
forum supergroup (the same form as a ``t.me/c/1234/42`` link).

A topic is its own target for subscriptions and preferences, but Telegram's limits and a chat's
reachability belong to the whole chat: those use :func:`base_chat`.
"""

from __future__ import annotations

import re
from enum import StrEnum

TARGET_RE = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20})(?:/(\d{1,10}))?$")


def split_target(target: str) -> tuple[str, int | None]:
    """(chat, topic id or None). A string that is not a target comes back whole."""
    match = TARGET_RE.match(target)
    if match is None:
        return target, None
    return match[1], int(match[2]) if match[2] else None


def base_chat(target: str) -> str:
    """The chat a target posts in, without its topic."""
    return target.partition("/")[0]


def with_topic(chat: str, topic: int | None) -> str:
    return f"{chat}/{topic}" if topic else chat


def is_person(target: str) -> bool:
    """Private chats have positive ids; groups and channels are negative or @names."""
    return target.isdigit()


class ChatStatus(StrEnum):
    """Whether the bot can post in a chat; the value is what the database stores."""

    ACTIVE = "active"
    BLOCKED = "blocked"
    """The bot was removed, blocked or demoted: deliveries are held until it is back."""
    MIGRATED = "migrated"
    """The chat lives on under another id (a group upgraded to a supergroup, or a
    ``@username`` resolved to its chat's id)."""
