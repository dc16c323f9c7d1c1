"""The project's one error hierarchy.

Every error names its subject (a file and line, a feed, a chat) so that a message printed to a
user or a log says what is wrong and where. Library errors are wrapped at the edges with
``raise ... from`` into one of these; programming errors are left to propagate.
"""

from __future__ import annotations

from dataclasses import dataclass


class NewsbotError(Exception):
    """Base of every error the bot raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a configuration or rule file, located as precisely as known."""

    file: str
    message: str
    line: int | None = None
    column: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        subject = f" [{self.key}]" if self.key else ""
        return f"{where}:{subject} {self.message}"


class ConfigError(NewsbotError):
    """Invalid configuration or rules; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FeedError(NewsbotError):
    """Polling one feed failed. ``retry_after`` (seconds) is set when the server asked for it."""

    def __init__(self, feed: str, message: str, *, retry_after: float | None = None) -> None:
        self.feed = feed
        self.reason = message
        self.retry_after = retry_after
        super().__init__(f"feed {feed!r}: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        # Parsing runs in worker processes: errors must survive pickling with their fields.
        return (_rebuild_feed_error, (type(self), self.feed, self.reason, self.retry_after))


class FeedGone(FeedError):
    """The server says the feed is gone for good (410); the feed is disabled."""


class ParseError(FeedError):
    """The body could not be read as a feed at all."""


class StorageError(NewsbotError):
    """The database could not be reached or refused an operation."""


class DeliveryError(NewsbotError):
    """Sending one message to one chat failed. Subclasses say what the sender should do next."""

    def __init__(self, chat: str, message: str) -> None:
        self.chat = chat
        self.reason = message
        super().__init__(f"chat {chat}: {message}")


class RateLimited(DeliveryError):
    """Telegram answered 429: wait ``retry_after`` seconds before sending to anyone again."""

    def __init__(self, chat: str, retry_after: float) -> None:
        super().__init__(chat, f"rate limited, retry after {retry_after:g}s")
        self.retry_after = retry_after


class ChatUnavailable(DeliveryError):
    """The bot may not send here (blocked by the user, removed from the group, chat not found)."""


class ChatMoved(DeliveryError):
    """A group became a supergroup; messages must go to ``new_chat`` from now on."""

    def __init__(self, chat: str, new_chat: str) -> None:
        super().__init__(chat, f"chat migrated to {new_chat}")
        self.new_chat = new_chat


class BadMessage(DeliveryError):
    """Telegram rejected the message itself (formatting, length); resend it in a simpler form."""


class TransientDeliveryError(DeliveryError):
    """A network error, time-out or server error: retry later with backoff."""


class AnswerLost(TransientDeliveryError):
    """The request went out but no answer came (time-out, connection lost): Telegram may have
    delivered the message. Resent only after a delay; the one way left to get a duplicate."""


def _rebuild_feed_error(
    cls: type[FeedError], feed: str, reason: str, retry_after: float | None
) -> FeedError:
    return cls(feed, reason, retry_after=retry_after)
