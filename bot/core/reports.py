"""What the admins' /status and ``newsbot status`` show: feeds, rules, the outbox by state,
uptime, the instances and their leases. Pure text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from bot.core.health import FeedHealth, ago, summary
from bot.core.models import InstanceInfo
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


def instances_report(
    instances: Sequence[InstanceInfo],
    leases: Sequence[tuple[str, str | None, datetime | None, int]],
    feed_claims: Mapping[str, tuple[str, datetime]],
    now: datetime,
    stale_after: timedelta,
) -> list[str]:
    """What ``newsbot status`` shows: every instance (its role, last heartbeat, the feed polls
    it holds now), then the named leases. An instance silent for ``stale_after`` is shown as
    lost (it died without stopping)."""
    claims: dict[str, int] = {}
    for poller, _ in feed_claims.values():
        claims[poller] = claims.get(poller, 0) + 1
    lines = [f"Instances: {sum(1 for i in instances if i.stopped_at is None)} running"]
    for i in instances:
        if i.stopped_at is not None:
            state = f"stopped {ago(i.stopped_at, now)}"
        elif now - i.heartbeat_at > stale_after:
            state = f"lost: last heartbeat {ago(i.heartbeat_at, now)}"
        else:
            state = f"{i.role}, heartbeat {ago(i.heartbeat_at, now)}"
        lines.append(
            f"  {i.id} (host {i.host}, pid {i.pid}): {state}; started {ago(i.started_at, now)}; "
            f"polling {claims.get(i.id, 0)} feeds now"
        )
    for name, holder, expires, takeovers in leases:
        if holder is None or expires is None or expires <= now:
            held = "free"
        else:
            held = f"held by {holder} for {(expires - now).total_seconds():.0f}s more"
        lines.append(f"Lease {name}: {held}; taken over {takeovers} times")
    return lines
