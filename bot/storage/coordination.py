"""What instances sharing one database coordinate through it (edge): claims on feed polls,
named leases (the Telegram lease), the instances' heartbeats, updates handled once, and admin
notices queued for the instance that talks to Telegram.

Every claim is a row read ``FOR UPDATE SKIP LOCKED`` (on PostgreSQL; SQLite has one writer,
which serializes the same code) and then written in the same transaction, the pattern of the
PostgreSQL job queues: a row another instance is claiming at that moment is skipped, not
waited for. A lease has an expiry; its holder renews it while it works; once it has run out,
anyone may take it over. Time comes from the instances' clocks, which must agree to well
within a lease (NTP does).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from bot.core.models import FeedClaim, InstanceInfo, Lease, LeaseGrant
from bot.core.outbox import DeliveryState, Event
from bot.storage import schema as s
from bot.storage.deliveries import DeliveryStore, transition
from bot.storage.feeds import _feed_state

f, le, ins, up, no = s.feeds, s.leases, s.instances, s.handled_updates, s.admin_notices
inbox = s.inbox_updates


class CoordinationStore(DeliveryStore):
    """Claims, leases, heartbeats, handled updates and queued notices."""

    # -- feed polls ------------------------------------------------------------------------

    async def claim_feed(
        self,
        name: str,
        holder: str,
        now: datetime,
        lease: timedelta,
        *,
        due_only: bool = True,
        early: timedelta = timedelta(seconds=1),
    ) -> FeedClaim | None:
        """:meth:`claim_feeds` for one feed."""
        claims = await self.claim_feeds([name], holder, now, lease, due_only=due_only, early=early)
        return claims.get(name)

    async def claim_feeds(
        self,
        names: Sequence[str],
        holder: str,
        now: datetime,
        lease: timedelta,
        *,
        due_only: bool = True,
        early: timedelta = timedelta(seconds=1),
    ) -> dict[str, FeedClaim]:
        """Claim the polls of feeds ``names`` for ``holder`` until ``now + lease``, in one
        transaction, all granted ones under one token. A feed is refused while another
        instance's lease stands, or (``due_only``) while it is not due within ``early``. A
        feed unknown, or whose row another instance is claiming right now, is left out."""
        claims: dict[str, FeedClaim] = {}
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(f).where(f.c.name.in_(names)).with_for_update(skip_locked=True)
                )
            ).all()
            wanted: list[Any] = []
            for row in rows:
                state = _feed_state(row)
                held = row.lease_token is not None and row.lease_until is not None
                if held and row.lease_holder != holder and row.lease_until > now:
                    claims[row.name] = FeedClaim(state, granted=False, retry_at=row.lease_until)
                elif state.disabled:
                    claims[row.name] = FeedClaim(state, granted=False)
                elif (
                    due_only and state.next_poll_at is not None and state.next_poll_at > now + early
                ):
                    claims[row.name] = FeedClaim(state, granted=False, retry_at=state.next_poll_at)
                else:
                    wanted.append(row)
            if not wanted:
                return claims
            # The write is itself the compare-and-set, so that the claim holds even where the
            # read above did not lock the rows (SQLite reads outside the write transaction).
            free = or_(
                f.c.lease_token.is_(None), f.c.lease_until <= now, f.c.lease_holder == holder
            )
            token = secrets.token_hex(8)
            got = set(
                (
                    await conn.execute(
                        update(f)
                        .where(f.c.name.in_([r.name for r in wanted]), free)
                        .values(lease_holder=holder, lease_token=token, lease_until=now + lease)
                        .returning(f.c.name)
                    )
                ).scalars()
            )
        for row in wanted:
            if row.name not in got:  # another instance claimed it between the two
                continue
            held = row.lease_token is not None and row.lease_until is not None
            claims[row.name] = FeedClaim(
                replace(_feed_state(row), lease=Lease(holder, token)),
                granted=True,
                took_over=row.lease_holder if held and row.lease_holder != holder else None,
                resumed=held and row.lease_holder == holder,
            )
        return claims

    async def renew_feeds(
        self, holder: str, claims: Mapping[str, Lease], now: datetime, lease: timedelta
    ) -> set[str]:
        """Extend ``holder``'s claims on these feeds to ``now + lease``, in one statement
        (their polls still run); the feeds whose claims still stood."""
        if not claims:
            return set()
        tokens = {c.token for c in claims.values()}
        async with self._tx() as conn:
            result = await conn.execute(
                update(f)
                .where(
                    f.c.name.in_(list(claims)),
                    f.c.lease_holder == holder,
                    f.c.lease_token.in_(tokens),
                )
                .values(lease_until=now + lease)
                .returning(f.c.name)
            )
            return set(result.scalars())

    async def feed_leases(self, now: datetime) -> dict[str, tuple[str, datetime]]:
        """Feed -> (holder, until) of every claim standing at ``now``."""
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(f.c.name, f.c.lease_holder, f.c.lease_until).where(
                        f.c.lease_token.is_not(None), f.c.lease_until > now
                    )
                )
            ).all()
        return {r.name: (r.lease_holder, r.lease_until) for r in rows}

    # -- named leases ----------------------------------------------------------------------

    async def acquire_lease(
        self, name: str, holder: str, now: datetime, ttl: timedelta
    ) -> LeaseGrant:
        """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``; granted if
        nobody holds it, ``holder`` does, or the holder's lease ran out."""
        async with self._tx() as conn:
            await conn.execute(self._insert_ignore(le, ["name"]).values(name=name, takeovers=0))
            row = (await conn.execute(select(le).where(le.c.name == name).with_for_update())).one()
            free = row.holder is None or row.expires_at is None or row.expires_at <= now
            if row.holder != holder and not free:
                return LeaseGrant(False, row.holder, row.expires_at)
            took_over = row.holder if row.holder not in (None, holder) else None
            values: dict[str, Any] = {"holder": holder, "expires_at": now + ttl}
            if row.holder != holder:
                values["acquired_at"] = now
            if took_over is not None:
                values["takeovers"] = le.c.takeovers + 1
            await conn.execute(update(le).where(le.c.name == name).values(**values))
        return LeaseGrant(True, holder, now + ttl, took_over)

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (a clean stop): another instance may take it at once."""
        async with self._tx() as conn:
            await conn.execute(
                update(le)
                .where(le.c.name == name, le.c.holder == holder)
                .values(holder=None, expires_at=None)
            )

    async def leases(self) -> list[tuple[str, str | None, datetime | None, int]]:
        """Every named lease: (name, holder, expires at, takeovers so far)."""
        async with self._tx() as conn:
            rows = (await conn.execute(select(le).order_by(le.c.name))).all()
        return [(r.name, r.holder, r.expires_at, r.takeovers) for r in rows]

    # -- instances -------------------------------------------------------------------------

    async def heartbeat(self, info: InstanceInfo) -> None:
        """Record that the instance is alive (and its role)."""
        values = {
            "host": info.host,
            "pid": info.pid,
            "role": info.role,
            "started_at": info.started_at,
            "heartbeat_at": info.heartbeat_at,
            "stopped_at": info.stopped_at,
        }
        async with self._tx() as conn:
            await conn.execute(self._insert_ignore(ins, ["id"]).values(id=info.id, **values))
            await conn.execute(update(ins).where(ins.c.id == info.id).values(**values))

    async def instances(self) -> list[InstanceInfo]:
        async with self._tx() as conn:
            rows = (await conn.execute(select(ins).order_by(ins.c.started_at))).all()
        return [
            InstanceInfo(r.id, r.host, r.pid, r.role, r.started_at, r.heartbeat_at, r.stopped_at)
            for r in rows
        ]

    # -- Telegram updates, once ------------------------------------------------------------

    async def begin_update(self, update_id: int, holder: str, now: datetime) -> bool:
        """Whether to handle update ``update_id``: True unless it was handled already.
        One begun and never finished (its handler died) is handled again."""
        async with self._tx() as conn:
            inserted = await conn.execute(
                self._insert_ignore(up, ["update_id"]).values(
                    update_id=update_id, holder=holder, started_at=now
                )
            )
            if inserted.rowcount:
                return True
            restarted = await conn.execute(
                update(up)
                .where(up.c.update_id == update_id, up.c.done_at.is_(None))
                .values(holder=holder, started_at=now)
            )
        return bool(restarted.rowcount)

    async def finish_update(self, update_id: int, now: datetime) -> None:
        async with self._tx() as conn:
            await conn.execute(update(up).where(up.c.update_id == update_id).values(done_at=now))

    async def inbox_put(self, update_id: int, body: str, now: datetime) -> None:
        """Keep an update received by webhook (once, however often Telegram sends it)."""
        async with self._tx() as conn:
            await conn.execute(
                self._insert_ignore(inbox, ["update_id"]).values(
                    update_id=update_id, body=body, received_at=now
                )
            )

    async def inbox_pending(self, limit: int = 100) -> list[tuple[int, str]]:
        """Received updates not handled to the end yet, oldest first."""
        done = select(up.c.update_id).where(up.c.done_at.is_not(None))
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(inbox.c.update_id, inbox.c.body)
                    .where(inbox.c.update_id.not_in(done))
                    .order_by(inbox.c.update_id)
                    .limit(limit)
                )
            ).all()
        return [(r.update_id, r.body) for r in rows]

    # -- admin notices ---------------------------------------------------------------------

    async def queue_notice(self, text: str, source: str, now: datetime) -> None:
        """Keep an admin notice for the instance that talks to Telegram."""
        async with self._tx() as conn:
            await conn.execute(no.insert().values(text=text[:4000], source=source, created_at=now))

    async def take_notices(self, limit: int = 100) -> list[str]:
        """Remove and return the oldest queued notices."""
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(no.c.id, no.c.text)
                    .order_by(no.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                await conn.execute(delete(no).where(no.c.id.in_([r.id for r in rows])))
        return [r.text for r in rows]

    # -- taking over the sending -----------------------------------------------------------

    async def recover_leased(self, now: datetime) -> int:
        """Every leased delivery back in its queue, due now: called by the instance that just
        took the Telegram lease, as only its holder sends, so these were the previous
        holder's (sent or not, it can no longer record them). Returns how many."""
        async with self._tx() as conn:
            result = await conn.execute(transition(Event.RECOVER).values(next_attempt_at=now))
        return int(result.rowcount or 0)

    async def recent_sends(self, since: datetime) -> list[tuple[str, datetime]]:
        """(chat, time) of every message sent since ``since``, a digest counted once: the
        new holder of the Telegram lease paces on from what the previous one sent."""
        d = s.deliveries
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    select(d.c.chat, func.max(d.c.sent_at))
                    .where(d.c.status == DeliveryState.SENT.value, d.c.sent_at >= since)
                    .group_by(d.c.chat, d.c.message_id)
                )
            ).all()
        return [(r[0], r[1]) for r in rows]

    async def prune_coordination(self, before: datetime) -> None:
        """Forget handled updates and stopped instances older than ``before``."""
        async with self._tx() as conn:
            await conn.execute(delete(up).where(up.c.started_at < before))
            await conn.execute(delete(inbox).where(inbox.c.received_at < before))
            await conn.execute(
                delete(ins).where(
                    (ins.c.stopped_at < before)
                    | (ins.c.stopped_at.is_(None) & (ins.c.heartbeat_at < before))
                )
            )
