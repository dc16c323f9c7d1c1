"""What the admins' /status shows: feeds, rules, the outbox by state, uptime. Pure text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.core.health import FeedHealth, summary
from bot.core.outbox import DeliveryState


def status_report(
    rows: Sequence[FeedHealth],
    rules: int,
    rules_error: str | None,
    deliveries: Mapping[DeliveryState, int] | None,
    uptime: str,
) -> str:
    """``deliveries`` is None when the database cannot say."""
    counts = summary(rows)
    n = (deliveries or {}).get
    lines = [
        f"Feeds: {len(rows)} ({counts['ok']} ok, {counts['failing']} failing, "
        f"{counts['disabled']} disabled, {counts['new']} not polled yet)",
        f"Rules: {rules} in force"
        + (f"; last reload refused: {rules_error.splitlines()[0]}" if rules_error else ""),
        (
            f"Queue: {n(DeliveryState.PENDING, 0) + n(DeliveryState.LEASED, 0)} pending, "
            f"{n(DeliveryState.WAITING, 0)} waiting for a digest or the end of quiet hours, "
            f"{n(DeliveryState.HELD, 0)} held for unreachable chats, "
            f"{n(DeliveryState.PARKED, 0)} parked, {n(DeliveryState.SENT, 0)} sent"
            if deliveries is not None
            else "Queue: unknown while the database is unavailable"
        ),
        f"Uptime: {uptime}",
    ]
    failing = [r for r in rows if r.status in ("failing", "disabled")]
    lines.extend(f"⚠ {r.name}: {r.status}, {r.details}" for r in failing[:10])
    return "\n".join(lines)
