"""Feed health as people read it, shared by `newsbot feeds` and the admins' /feeds (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.models import FeedSpec, FeedState


@dataclass(frozen=True, slots=True)
class FeedHealth:
    name: str
    status: str
    """``new`` (never polled), ``ok``, ``failing`` or ``disabled``."""
    last_success: str
    failures: int
    next_poll: str
    details: str


def ago(when: datetime | None, now: datetime) -> str:
    """``5m ago``, ``in 2h``, ``never``."""
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{seconds / size:.0f}{unit}"
            break
    else:
        text = f"{seconds:.0f}s"
    return f"in {text}" if future else f"{text} ago"


def feed_health(
    specs: Sequence[FeedSpec], states: dict[str, FeedState], now: datetime
) -> list[FeedHealth]:
    rows = []
    for spec in specs:
        state = states.get(spec.name)
        if state is None or state.last_polled_at is None:
            status, details = "new", spec.url
        elif state.disabled:
            status, details = "disabled", state.last_error or ""
        elif state.consecutive_failures:
            status, details = "failing", state.last_error or ""
        else:
            status, details = "ok", f"moved to {state.moved_url}" if state.moved_url else ""
        rows.append(
            FeedHealth(
                name=spec.name,
                status=status,
                last_success=ago(state.last_success_at if state else None, now),
                failures=state.consecutive_failures if state else 0,
                next_poll="-" if state is None or state.disabled else ago(state.next_poll_at, now),
                details=details,
            )
        )
    return rows


def health_table(rows: Sequence[FeedHealth]) -> list[str]:
    """The rows as aligned plain-text lines, with a header."""
    lines = [f"{'feed':24} {'status':9} {'last success':13} {'fails':>5} {'next poll':11}  details"]
    lines.extend(
        f"{r.name[:24]:24} {r.status:9} {r.last_success:13} {r.failures:5} {r.next_poll:11}  "
        f"{r.details}"
        for r in rows
    )
    return lines


ICONS = {"failing": "⚠️", "disabled": "⛔", "new": "🆕", "ok": "✅"}
"""A feed's status at a glance, in the order /feeds lists them (trouble first)."""


def health_cards(rows: Sequence[FeedHealth], details: int = 120) -> list[str]:
    """The rows for a phone: two short lines per feed, failing and disabled feeds first
    (a table 80 columns wide wraps into noise on a phone screen)."""
    order = list(ICONS)
    cards = []
    for r in sorted(rows, key=lambda r: (order.index(r.status), r.name.lower())):
        facts = [f"last success {r.last_success}"]
        if r.failures:
            facts.append(f"{r.failures} failure{'s' if r.failures != 1 else ''} in a row")
        if r.next_poll != "-":
            facts.append(f"next poll {r.next_poll}")
        card = f"{ICONS[r.status]} {r.name}: {r.status}\n   " + " · ".join(facts)
        if r.details:
            text = r.details if len(r.details) <= details else r.details[: details - 1] + "…"
            card += f"\n   {text}"
        cards.append(card)
    return cards


def summary(rows: Sequence[FeedHealth]) -> dict[str, int]:
    counts = {"ok": 0, "failing": 0, "disabled": 0, "new": 0}
    for row in rows:
        counts[row.status] += 1
    return counts
