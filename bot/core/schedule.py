"""When to poll a feed next, and which stories a first poll may alert on. Pure decisions.

A healthy feed is polled every ``interval`` with random jitter so that feeds sharing an interval
do not fire together. A failing feed backs off exponentially (capped), and a server's
``Retry-After`` is honoured. The feed's own minimum refresh time (RSS ``<ttl>``, Cache-Control
``max-age``) stretches the interval, within a configured ceiling.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.models import Story


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How polling reacts to success and failure."""

    jitter: float = 0.1
    """Fraction of the interval added or removed at random."""
    max_backoff: timedelta = timedelta(hours=6)
    max_server_delay: timedelta = timedelta(hours=24)
    """Ceiling on how long a server's Retry-After or TTL may push the next poll away."""


def _jittered(delay: timedelta, jitter: float, rng: random.Random) -> timedelta:
    if jitter <= 0:
        return delay
    return delay * (1 + rng.uniform(-jitter, jitter))


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
