"""Admin notices gathered into one: people who blocked the bot are told to the admins as one
message per period ("3 people blocked the bot ..."), not one ping per person (pure core).

A group or channel that removed the bot is still told at once, as the admins can act on it; a
person who blocked the bot is their own choice, worth knowing in sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class NoticeBatch:
    """Chats gathered since the last summary; :meth:`take` gives the summary once due."""

    every: timedelta = timedelta(hours=1)
    """At most one summary per this period; the first one waits this long after its first
    chat, so that a wave of blocks makes one message."""
    chats: list[str] = field(default_factory=list)
    since: datetime | None = None
    """When the first chat of this batch came (None: nothing gathered)."""

    def add(self, chat: str, now: datetime) -> None:
        if chat in self.chats:
            return
        self.chats.append(chat)
        if self.since is None:
            self.since = now

    def take(self, now: datetime, *, early: bool = False) -> str | None:
        """The summary, if one is due or ``early`` (the bot stops), and the batch starts
        again; None if nothing is gathered or it is not due yet."""
        if self.since is None or (now - self.since < self.every and not early):
            return None
        chats, self.chats, self.since = self.chats, [], None
        shown = ", ".join(chats[:10]) + (f" and {len(chats) - 10} more" if len(chats) > 10 else "")
        people = "1 person" if len(chats) == 1 else f"{len(chats)} people"
        return (
            f"{people} blocked the bot in the last {_hours(self.every)} ({shown}); their "
            "alerts are held and follow if they start the bot again."
        )


def _hours(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    if seconds == 3600:
        return "hour"
    for unit, size in (("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} seconds"
