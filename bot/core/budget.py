"""How many commands one person may send: a token bucket per user. Pure: the caller gives the
time (monotonic seconds).

A person may send ``burst`` commands at once and ``per_minute`` a minute after that. The first
command past the budget is answered once with "slow down" (:attr:`Verdict.WARN`); the rest are
dropped unanswered (:attr:`Verdict.DROP`) until the bucket refills, so a flood costs the bot one
reply, and everyone else's replies go out as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"
    DROP = "drop"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class CommandBudget:
    def __init__(self, per_minute: float = 30, burst: int = 20, max_users: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_users = max_users
        self._buckets: dict[int, _Bucket] = {}

    def take(self, user: int, now: float) -> Verdict:
        """Whether ``user``'s command at ``now`` is answered."""
        bucket = self._buckets.get(user)
        if bucket is None:
            if len(self._buckets) >= self.max_users:
                self._forget(now)
            bucket = self._buckets[user] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return Verdict.ALLOW
        if bucket.warned:
            return Verdict.DROP
        bucket.warned = True
        return Verdict.WARN

    def _forget(self, now: float) -> None:
        """Drop the buckets that are full again (their users are like new ones)."""
        full = [
            user
            for user, b in self._buckets.items()
            if b.tokens + (now - b.at) * self.rate >= self.burst
        ]
        for user in full:
            del self._buckets[user]
