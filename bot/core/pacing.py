"""Telegram's flood limits as a pure pacing decision.

Telegram allows about one message per second to a chat, twenty per minute to a group or channel
and thirty per second overall; past that it answers 429. The pacer keeps a record of recent sends
and says how long to wait before the next message to a given chat may go. A 429 pauses everyone
for ``retry_after`` (the Bot API's limits are per bot, not per chat). Time is a float of seconds
from a monotonic clock supplied by the caller.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    per_chat_interval: float = 1.05
    """Seconds between two messages to the same private chat."""
    group_per_minute: int = 20
    global_per_second: int = 30
    window_slack: float = 0.05
    """Extra seconds added to window lengths so that clock skew never tips over a limit."""


_EPSILON = 1e-9
"""Seconds of float rounding forgiven: a caller that sleeps exactly the wait it was given must
find the limit lifted, not a vanishing wait it cannot get past."""


def _window_wait(sends: deque[float], now: float, window: float, limit: int) -> float:
    """Wait until fewer than ``limit`` sends remain within the last ``window`` seconds. A send
    expires when its age reaches the window; the same age decides the wait, so the two can
    never disagree."""
    while sends and now - sends[0] >= window - _EPSILON:
        sends.popleft()
    if len(sends) < limit:
        return 0.0
    return window - (now - sends[0])


class Pacer:
    """Decides when the next message to a chat may be sent without exceeding the limits."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._last_sent: dict[str, float] = {}
        self._group_sends: dict[str, deque[float]] = {}
        self._global_sends: deque[float] = deque()
        self._paused_until = 0.0

    def delay(self, chat: str, is_group: bool, now: float) -> float:
        """Seconds to wait before a message to ``chat`` may be sent (0 if it may go now)."""
        lim = self.limits
        wait = max(0.0, self._paused_until - now)
        last = self._last_sent.get(chat)
        if last is not None and now - last < lim.per_chat_interval - _EPSILON:
            wait = max(wait, lim.per_chat_interval - (now - last))
        if is_group:
            sends = self._group_sends.get(chat)
            if sends is not None:
                wait = max(
                    wait, _window_wait(sends, now, 60.0 + lim.window_slack, lim.group_per_minute)
                )
        wait = max(
            wait,
            _window_wait(self._global_sends, now, 1.0 + lim.window_slack, lim.global_per_second),
        )
        return wait if wait > _EPSILON else 0.0

    def record(self, chat: str, is_group: bool, now: float) -> None:
        """Note that a message to ``chat`` was sent at ``now``."""
        self._last_sent[chat] = now
        if is_group:
            self._group_sends.setdefault(chat, deque()).append(now)
        self._global_sends.append(now)

    def pause(self, seconds: float, now: float) -> None:
        """Stop all sending for ``seconds`` (Telegram answered 429 with this retry_after)."""
        self._paused_until = max(self._paused_until, now + seconds)

    def forget(self, older_than: float) -> None:
        """Drop per-chat records that can no longer affect a decision, to bound memory."""
        stale = [c for c, t in self._last_sent.items() if t < older_than - 61]
        for chat in stale:
            del self._last_sent[chat]
            self._group_sends.pop(chat, None)


def retry_delay(attempts: int, base: float = 2.0, cap: float = 600.0, jitter: float = 0.0) -> float:
    """Exponential backoff for a failed send: ``base * 2**(attempts-1)`` seconds, capped, plus
    ``jitter`` (a random fraction of the delay chosen by the caller, in [0, 1))."""
    delay = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 60))
    return delay * (1 + jitter)
