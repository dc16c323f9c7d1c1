"""Telegram's flood limits as a pure pacing decision.

Telegram allows about one message per second to a chat, twenty per minute to a group or channel
and thirty per second overall; past that it answers 429. The pacer keeps a record of recent sends
and says how long to wait before the next message to a given chat may go. A 429 pauses everyone
for ``retry_after`` (the Bot API's limits are per bot, not per chat). Time is a float of seconds
from a monotonic clock supplied by the caller.

Telegram counts a message when the request reaches it, which is some time after the bot starts
sending and before the answer comes back; how long varies from one request to the next. A
caller that reports both ends of a send (:meth:`Pacer.begin` when the request starts,
:meth:`Pacer.end` when its answer arrives) is paced on safe times: a send under way counts
against every limit as if it were happening now, and a finished one as if it had reached
Telegram when its answer came back, never earlier than it really did. Then no variation in
network or event-loop delays can put two sends closer together at Telegram than the limits
allow. :meth:`Pacer.record` notes a send as begun and finished at one instant, for callers that
only know when they send.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    per_chat_interval: float = 1.01
    """Seconds between two messages to the same private chat."""
    group_per_minute: int = 20
    global_per_second: int = 30
    window_slack: float = 0.01
    """Extra seconds added to window lengths, a margin for clocks that run at slightly
    different rates. Sends reported with begin and end need nothing more (their times are safe
    bounds); each 0.01 s costs 1% of the throughput when a burst is bound by the global limit."""


_EPSILON = 1e-9
"""Seconds of float rounding forgiven: a caller that sleeps exactly the wait it was given must
find the limit lifted, not a vanishing wait it cannot get past."""


IN_FLIGHT_WAIT = 0.01
"""Seconds to wait, then ask again, when a limit is taken up by sends still under way (their
end cannot be foreseen)."""


def _window_wait(
    sends: deque[float], now: float, window: float, limit: int, in_flight: int = 0
) -> float:
    """Wait until fewer than ``limit`` sends, counting the ``in_flight`` ones still under way,
    remain within the last ``window`` seconds. A send expires when its age reaches the window;
    the same age decides the wait, so the two can never disagree."""
    while sends and now - sends[0] >= window - _EPSILON:
        sends.popleft()
    excess = len(sends) + in_flight - limit + 1  # sends to leave the window before one more
    if excess <= 0:
        return 0.0
    if excess > len(sends):
        return IN_FLIGHT_WAIT
    return window - (now - sends[excess - 1])


class Pacer:
    """Decides when the next message to a chat may be sent without exceeding the limits."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._last_sent: dict[str, float] = {}
        self._group_sends: dict[str, deque[float]] = {}
        self._global_sends: deque[float] = deque()
        self._in_flight: dict[str, int] = {}
        """Chat -> sends begun and not yet ended."""
        self._in_flight_total = 0
        self._paused_until = 0.0

    @property
    def in_flight(self) -> int:
        """Sends begun and not yet ended."""
        return self._in_flight_total

    def delay(self, chat: str, is_group: bool, now: float) -> float:
        """Seconds to wait before a message to ``chat`` may be sent (0 if it may go now)."""
        lim = self.limits
        wait = max(0.0, self._paused_until - now)
        busy = self._in_flight.get(chat, 0)
        if busy:
            # The next message must follow this one's end by the interval: at least that long.
            wait = max(wait, lim.per_chat_interval)
        last = self._last_sent.get(chat)
        if last is not None and now - last < lim.per_chat_interval - _EPSILON:
            wait = max(wait, lim.per_chat_interval - (now - last))
        if is_group:
            sends = self._group_sends.get(chat)
            if sends is not None or busy:
                wait = max(
                    wait,
                    _window_wait(
                        sends if sends is not None else deque(),
                        now,
                        60.0 + lim.window_slack,
                        lim.group_per_minute,
                        busy,
                    ),
                )
        wait = max(
            wait,
            _window_wait(
                self._global_sends,
                now,
                1.0 + lim.window_slack,
                lim.global_per_second,
                self._in_flight_total,
            ),
        )
        return wait if wait > _EPSILON else 0.0

    def begin(self, chat: str, is_group: bool, now: float) -> None:
        """A message to ``chat`` is being sent from ``now`` on: until :meth:`end`, it counts
        against every limit as a send happening at this very moment."""
        self._in_flight[chat] = self._in_flight.get(chat, 0) + 1
        self._in_flight_total += 1

    def end(self, chat: str, is_group: bool, now: float) -> None:
        """The send to ``chat`` begun earlier got its answer (or failed) at ``now``: it counts
        from now on as a send made at ``now``, which is no earlier than Telegram saw it."""
        count = self._in_flight.get(chat, 0)
        if count > 0:
            self._in_flight_total -= 1
            if count == 1:
                del self._in_flight[chat]
            else:
                self._in_flight[chat] = count - 1
        self.record(chat, is_group, now)

    def record(self, chat: str, is_group: bool, now: float) -> None:
        """Note that a message to ``chat`` was sent at ``now`` (begun and ended at once)."""
        self._last_sent[chat] = now
        if is_group:
            self._group_sends.setdefault(chat, deque()).append(now)
        self._global_sends.append(now)

    def seed(self, sends: Iterable[tuple[str, bool, float]]) -> None:
        """Count sends made elsewhere (chat, is group, when): an instance that takes over
        the sending paces on from what the previous sender sent, not from nothing."""
        changed: set[str] = set()
        for chat, is_group, at in sends:
            self._last_sent[chat] = max(self._last_sent.get(chat, at), at)
            if is_group:
                self._group_sends.setdefault(chat, deque()).append(at)
                changed.add(chat)
            self._global_sends.append(at)
        for chat in changed:
            self._group_sends[chat] = deque(sorted(self._group_sends[chat]))
        self._global_sends = deque(sorted(self._global_sends))

    def pause(self, seconds: float, now: float) -> None:
        """Stop all sending for ``seconds`` (Telegram answered 429 with this retry_after)."""
        self._paused_until = max(self._paused_until, now + seconds)

    def forget(self, older_than: float) -> None:
        """Drop per-chat records that can no longer affect a decision, to bound memory."""
        busy = self._in_flight
        stale = [c for c, t in self._last_sent.items() if t < older_than - 61 and c not in busy]
        for chat in stale:
            del self._last_sent[chat]
            self._group_sends.pop(chat, None)


def retry_delay(attempts: int, base: float = 2.0, cap: float = 600.0, jitter: float = 0.0) -> float:
    """Exponential backoff for a failed send: ``base * 2**(attempts-1)`` seconds, capped, plus
    ``jitter`` (a random fraction of the delay chosen by the caller, in [0, 1))."""
    delay = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 60))
    return delay * (1 + jitter)
