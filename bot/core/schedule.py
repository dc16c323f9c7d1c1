"""When to poll a feed next, and which stories a first poll may alert on. Pure decisions.

A healthy feed is polled every ``interval`` with random jitter so that feeds sharing an interval
do not fire together. A failing feed backs off exponentially (capped), and a server's
``Retry-After`` is honoured. The feed's own minimum refresh time (RSS ``<ttl>``, Cache-Control
``max-age``) stretches the interval, within a configured ceiling.

Adaptive polling (:func:`adapted_interval`): after each successful poll the feed's interval is
multiplied by ``stretch`` (1.25) when the poll brought no new story and by ``shrink`` (0.5) when
it did, within ``[min_interval, max(max_interval, interval)]`` (``max_interval`` unset: the
feed's own interval is the ceiling, so adapting only ever polls sooner); the TTL and
Cache-Control floor above still applies. With ``max_interval`` set, a feed that stays quiet is
polled less and less often (its interval
grows by a quarter per empty poll: three empty polls about double it), and one that keeps
publishing is polled more often (halved per poll with news); a feed publishing at random about
every T minutes settles near an interval of T/3.6, where about a quarter of the polls find
something.
The current interval needs no state of its own: it is the delay the previous successful poll
chose (``next_poll_at - last_polled_at``, jitter and server floor included), which the feed's
state already keeps, across restarts too. After a failure or on a first poll, the feed starts
again from its configured interval.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.models import FeedState, Story


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How polling reacts to success and failure."""

    jitter: float = 0.1
    """Fraction of the interval added or removed at random."""
    max_backoff: timedelta = timedelta(hours=6)
    max_server_delay: timedelta = timedelta(hours=24)
    """Ceiling on how long a server's Retry-After or TTL may push the next poll away."""
    adaptive: bool = True
    """Stretch the interval of quiet feeds and shrink that of busy ones (see the module)."""
    min_interval: timedelta = timedelta(minutes=1)
    """No feed's interval is shrunk below this."""
    max_interval: timedelta | None = None
    """No feed's interval is stretched beyond this (or beyond its configured interval, when
    that is longer). None: never beyond the configured interval, so that the interval a person
    set stays a promise about how late an alert can be."""
    stretch: float = 1.25
    """Factor applied to the interval after a poll that found no new story."""
    shrink: float = 0.5
    """Factor applied to the interval after a poll that found new stories."""

    def __post_init__(self) -> None:
        if not (0 < self.shrink <= 1 <= self.stretch):
            raise ValueError("adaptive polling needs 0 < shrink <= 1 <= stretch")
        if self.max_interval is not None and self.min_interval > self.max_interval:
            raise ValueError("min_interval must not exceed max_interval")


def _jittered(delay: timedelta, jitter: float, rng: random.Random) -> timedelta:
    if jitter <= 0:
        return delay
    return delay * (1 + rng.uniform(-jitter, jitter))


def previous_delay(state: FeedState) -> timedelta | None:
    """The delay the feed's previous poll chose for this one, when that poll succeeded (so
    the delay is an interval, not a failure's backoff); None when there is no such poll."""
    if (
        not state.seeded
        or state.consecutive_failures
        or state.last_polled_at is None
        or state.next_poll_at is None
        or state.next_poll_at <= state.last_polled_at
    ):
        return None
    return state.next_poll_at - state.last_polled_at


def adapted_interval(
    interval: timedelta,
    previous: timedelta | None,
    found_new: bool | None,
    policy: PollPolicy,
) -> timedelta:
    """The interval to use after a successful poll.

    ``interval`` is the feed's configured one, ``previous`` the delay the previous successful
    poll chose (:func:`previous_delay`), ``found_new`` whether this poll found new stories
    (None for a first poll, which only records what the feed holds). Without adaptive
    polling, or without a previous delay or a verdict, it is ``interval``."""
    if not policy.adaptive or previous is None or found_new is None:
        return interval
    factor = policy.shrink if found_new else policy.stretch
    ceiling = max(policy.max_interval or interval, interval)
    return min(max(previous * factor, policy.min_interval), ceiling)


def next_poll_after_success(
    now: datetime,
    interval: timedelta,
    policy: PollPolicy,
    rng: random.Random,
    *,
    server_min_delay: timedelta | None = None,
) -> datetime:
    """The next poll of a feed that was just read successfully."""
    delay = _jittered(interval, policy.jitter, rng)
    if server_min_delay is not None:
        delay = max(delay, min(server_min_delay, policy.max_server_delay))
    return now + delay


def next_poll_after_failure(
    now: datetime,
    interval: timedelta,
    consecutive_failures: int,
    policy: PollPolicy,
    rng: random.Random,
    *,
    retry_after: timedelta | None = None,
) -> datetime:
    """The next poll after the ``consecutive_failures``-th failure in a row (1 for the first).

    The first retry comes after one interval; every further failure doubles the wait, up to
    ``policy.max_backoff`` (never below the interval itself)."""
    exponent = max(consecutive_failures - 1, 0)
    backoff = interval * (2 ** min(exponent, 20))
    backoff = min(backoff, max(policy.max_backoff, interval))
    delay = _jittered(backoff, policy.jitter, rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_server_delay))
    return now + delay


@dataclass(frozen=True, slots=True)
class SeedPolicy:
    """What the first successful poll of a feed alerts on. By default nothing: a newly added
    feed records what it already holds, so that adding a feed never floods anyone."""

    newest: int = 0
    """Alert on this many of the newest items (by published time, else feed order)."""
    max_age: timedelta | None = None
    """Also alert on items published no longer ago than this."""


def stories_to_alert_on_seed(
    stories: Sequence[Story], now: datetime, policy: SeedPolicy
) -> list[Story]:
    """The stories of a feed's first poll that should still produce alerts (feed order kept)."""
    chosen: set[int] = set()
    if policy.newest > 0:
        # Feed order is newest first in practice; published time, when present, decides.
        ranked = sorted(
            range(len(stories)),
            key=lambda i: (stories[i].published is not None, stories[i].published, -i),
            reverse=True,
        )
        chosen.update(ranked[: policy.newest])
    if policy.max_age is not None:
        cutoff = now - policy.max_age
        chosen.update(
            i for i, s in enumerate(stories) if s.published is not None and s.published >= cutoff
        )
    return [s for i, s in enumerate(stories) if i in chosen]
