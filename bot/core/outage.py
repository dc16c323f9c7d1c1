"""The database's health as the bot sees it: when it stopped answering, why, and when to tell
the admins (once an outage has lasted ``notice_after``, and again when it ends). Pure: the
caller gives the time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


def _ignore(_text: str) -> None:
    return None


@dataclass
class StorageHealth:
    """Shared by everything that writes (polling, sending); ``notify`` tells the admins."""

    notice_after: timedelta = timedelta(minutes=1)
    notify: Callable[[str], None] = field(default=_ignore, repr=False)
    since: datetime | None = None
    """When the current outage began (None: the database answers)."""
    error: str | None = None
    failures: int = 0
    """Failed steps in the current outage (sets the retry delay)."""
    notified: bool = False

    def failed(self, now: datetime, error: str) -> None:
        """Record a failed step; the admins are told once the outage has lasted long enough."""
        if self.since is None:
            self.since = now
        self.error = error
        self.failures += 1
        if not self.notified and now - self.since >= self.notice_after:
            self.notified = True
            self.notify(f"The database has not answered since {self.since:%H:%M:%S} UTC: {error}")

    def recovered(self, now: datetime) -> None:
        """Record a step that worked; the admins are told if they were told of the outage."""
        if self.since is None:
            return
        since, notified = self.since, self.notified
        self.since, self.error, self.failures, self.notified = None, None, 0, False
        if notified:
            self.notify(
                f"The database answers again (it was unavailable for {_span(now - since)})."
            )

    def retry_in(self) -> timedelta:
        """How soon to try a failed step again: 1 s, doubling, at most 8 s (a step against a
        locked SQLite file already waits its busy time-out, 10 s, before it fails)."""
        return timedelta(seconds=min(8.0, 2.0 ** max(self.failures - 1, 0)))

    def describe(self, now: datetime) -> str | None:
        """One line for /status and /feeds while the database is unavailable."""
        if self.since is None:
            return None
        return f"Database unavailable for {_span(now - self.since)}: {self.error}"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    return f"{seconds // 60}m{seconds % 60:02d}s"
