"""The outbox: deliveries (one message of one story to one chat) and the rules each names
(edge). Every state change is an event of :mod:`bot.core.outbox`, applied by
:func:`transition`, which takes the legal source states and the target from the core's one
transition table; no query here spells a state move of its own.

Claims lease due deliveries to one sender: other senders (PostgreSQL: ``SKIP LOCKED``) skip
them, and a crashed sender's lease simply runs out, after which they are claimed again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, delete, func, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from bot.core.models import Alert, NewDelivery, RuleMatch
from bot.core.outbox import QUEUE, DeliveryState, Event, initial_state, sources, target
from bot.storage import schema as s
from bot.storage.database import Database, chunks
from bot.storage.stories import story_of

d, dr = s.deliveries, s.delivery_rules


def transition(event: Event, *where: ColumnElement[bool], **values: Any) -> Any:
    """The UPDATE that applies ``event`` to the deliveries matching ``where``: only those in a
    state the event may leave are touched, and each goes where the transition table says."""
    to = target(event)
    status: Any = (
        case((d.c.digest, DeliveryState.WAITING.value), else_=DeliveryState.PENDING.value)
        if to == QUEUE
        else DeliveryState(to).value
    )
    legal = [state.value for state in sources(event)]
    return sql_update(d).where(d.c.status.in_(legal), *where).values(status=status, **values)


def of_chat(chat: str) -> ColumnElement[bool]:
    """Deliveries to ``chat`` or to any of its forum topics (they share its reachability)."""
    return or_(d.c.chat == chat, d.c.chat.like(f"{chat}/%"))


class DeliveryStore(Database):
    """The deliveries aggregate."""

    async def _queue(
        self,
        conn: AsyncConnection,
        deliveries: Sequence[NewDelivery],
        story_ids: Mapping[str, int],
        unreachable: set[str],
        now: datetime,
    ) -> int:
        """Store new deliveries (those of stories in ``story_ids``); one per (story, chat),
        so a story stored again by another instance adds nothing. Deliveries to chats in
        ``unreachable`` are held from the start. Returns how many were stored."""
        wanted = [x for x in deliveries if x.story_key in story_ids]
        rows = [
            {
                "story_id": story_ids[x.story_key],
                "chat": x.chat,
                "status": initial_state(
                    x.chat.partition("/")[0] not in unreachable, x.digest
                ).value,
                "digest": x.digest,
                "priority": x.priority,
                "attempts": 0,
                "plain": False,
                "next_attempt_at": now,
                "created_at": now,
            }
            for x in wanted
        ]
        by_target = {(story_ids[x.story_key], x.chat): x for x in wanted}
        rule_rows = []
        for chunk in chunks(rows):
            stmt = self._insert_ignore(d, ["story_id", "chat"]).values(chunk)
            result = await conn.execute(stmt.returning(d.c.id, d.c.story_id, d.c.chat))
            for delivery_id, story_id, chat in result.all():
                for position, rule in enumerate(by_target[(story_id, chat)].rules):
                    rule_rows.append(
                        {
                            "delivery_id": delivery_id,
                            "rule_id": rule.rule_id,
                            "terms": json.dumps(list(rule.terms), ensure_ascii=False),
                            "priority": rule.priority,
                            "position": position,
                        }
                    )
        for chunk in chunks(rule_rows):
            await conn.execute(insert(dr), list(chunk))
        return len({r["delivery_id"] for r in rule_rows})

    # -- claims ---------------------------------------------------------------------------

    async def claim_due(
        self, now: datetime, lease: timedelta, limit: int, per_chat: int | None = None
    ) -> list[Alert]:
        """Lease up to ``limit`` due single alerts, the chats taking turns: each chat's first
        due alert (highest priority, then oldest), then each chat's second, and so on, at most
        ``per_chat`` each. So a chat's backlog, however long, never holds back another chat's
        alerts by more than its own share of a batch.

        A claimed delivery's next attempt is pushed to ``now + lease``: other senders skip it,
        and if this one dies before recording the outcome, it is claimed again after that."""
        due = or_(
            d.c.status == DeliveryState.PENDING.value,
            (d.c.status == DeliveryState.LEASED.value) & ~d.c.digest,
        )
        order = (d.c.priority.desc(), d.c.next_attempt_at, d.c.id)
        turn = func.row_number().over(partition_by=d.c.chat, order_by=order).label("turn")
        ranked = select(d.c.id, turn).where(due, d.c.next_attempt_at <= now).subquery()
        wanted = select(ranked.c.id)
        if per_chat is not None:
            wanted = wanted.where(ranked.c.turn <= per_chat)
        wanted = wanted.order_by(ranked.c.turn, ranked.c.id).limit(limit)
        return await self._claim(due, now, lease, limit, order, candidates=wanted)

    async def claim_digests(
        self, now: datetime, lease: timedelta, limit: int, chats: int = 50
    ) -> list[Alert]:
        """Lease deliveries released into a digest (waiting, and their time has come), whole
        chats at a time (up to ``chats`` chats, and ``limit`` deliveries for each), so that a
        chat's digest is one message however many chats have one due: ordered by chat, then
        as they were stored."""
        due = or_(
            d.c.status == DeliveryState.WAITING.value,
            (d.c.status == DeliveryState.LEASED.value) & d.c.digest,
        )
        ready = (d.c.next_attempt_at <= now, due)
        first = (
            select(d.c.chat)
            .where(*ready)
            .group_by(d.c.chat)
            .order_by(func.min(d.c.id))
            .limit(chats)
        )
        turn = func.row_number().over(partition_by=d.c.chat, order_by=d.c.id).label("turn")
        ranked = select(d.c.id, turn).where(*ready, d.c.chat.in_(first.scalar_subquery()))
        per_chat = ranked.subquery()
        wanted = select(per_chat.c.id).where(per_chat.c.turn <= limit)
        return await self._claim(
            due, now, lease, limit * chats, (d.c.chat, d.c.id), candidates=wanted
        )

    async def _claim(
        self,
        due: ColumnElement[bool],
        now: datetime,
        lease: timedelta,
        limit: int,
        order: tuple[Any, ...],
        candidates: Select[Any] | None = None,
    ) -> list[Alert]:
        async with self._tx() as conn:
            if candidates is None:
                query: Select[Any] = (
                    select(d.c.id)
                    .where(due, d.c.next_attempt_at <= now)
                    .order_by(*order)
                    .limit(limit)
                )
            else:  # ranked by a window, which a locking SELECT cannot hold: lock around it
                query = select(d.c.id).where(d.c.id.in_(candidates.scalar_subquery()))
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list((await conn.execute(query)).scalars())
            if not ids:
                return []
            claimed = await conn.execute(
                transition(Event.CLAIM, d.c.id.in_(ids), due, d.c.next_attempt_at <= now)
                .values(next_attempt_at=now + lease)
                .returning(d.c.id)
            )
            claimed_ids = list(claimed.scalars())
            if not claimed_ids:
                return []
            return await self._alerts(conn, claimed_ids, order)

    @staticmethod
    async def _alerts(
        conn: AsyncConnection, ids: Sequence[int], order: tuple[Any, ...]
    ) -> list[Alert]:
        """The deliveries ``ids`` as alerts, with their stories and rules, in ``order``."""
        st = s.stories
        rows = (
            await conn.execute(
                select(
                    d,
                    st.c.feed,
                    st.c.key,
                    st.c.title,
                    st.c.link,
                    st.c.summary,
                    st.c.published_at,
                    st.c.cluster,
                )
                .join(st, st.c.id == d.c.story_id)
                .where(d.c.id.in_(ids))
                .order_by(*order)
            )
        ).all()
        rules: dict[int, list[RuleMatch]] = defaultdict(list)
        for chunk in chunks(list(ids)):
            for r in await conn.execute(
                select(dr).where(dr.c.delivery_id.in_(chunk)).order_by(dr.c.position)
            ):
                rules[r.delivery_id].append(
                    RuleMatch(r.rule_id, tuple(json.loads(r.terms)), r.priority)
                )
        return [
            Alert(
                delivery_id=r.id,
                chat=r.chat,
                story=story_of(r),
                rules=tuple(rules[r.id]),
                feed_title=r.feed,
                attempts=r.attempts,
                plain=r.plain,
                digest=r.digest,
                cluster=r.cluster,
            )
            for r in rows
        ]

    # -- outcomes -------------------------------------------------------------------------

    async def defer(self, held: Sequence[tuple[int, datetime]]) -> None:
        """Leased deliveries that a digest or quiet hours want later: (id, release time).
        They go out in a digest then."""
        by_time: dict[datetime, list[int]] = defaultdict(list)
        for delivery_id, when in held:
            by_time[when].append(delivery_id)
        async with self._tx() as conn:
            for when, ids in by_time.items():
                for chunk in chunks(ids):
                    await conn.execute(
                        transition(Event.DEFER, d.c.id.in_(chunk)).values(
                            next_attempt_at=when, digest=True
                        )
                    )

    async def mark_many_sent(
        self, delivery_ids: Sequence[int], message_id: int | None, now: datetime
    ) -> None:
        """Deliveries that went out in one message: one alert, or a digest of several."""
        async with self._tx() as conn:
            for chunk in chunks(list(delivery_ids)):
                await conn.execute(
                    transition(Event.SEND, d.c.id.in_(chunk)).values(
                        sent_at=now,
                        message_id=message_id,
                        attempts=d.c.attempts + 1,
                        last_error=None,
                    )
                )

    async def give_back(self, delivery_ids: Sequence[int], now: datetime) -> None:
        """Leased deliveries that were not attempted go back to their queue, due now."""
        async with self._tx() as conn:
            for chunk in chunks(list(delivery_ids)):
                await conn.execute(
                    transition(Event.GIVE_BACK, d.c.id.in_(chunk)).values(next_attempt_at=now)
                )

    async def retry_later(
        self,
        delivery_id: int,
        when: datetime,
        error: str,
        *,
        count_attempt: bool = True,
        plain: bool | None = None,
    ) -> None:
        """Another attempt at ``when``."""
        values: dict[str, Any] = {"next_attempt_at": when, "last_error": error[:500]}
        if count_attempt:
            values["attempts"] = d.c.attempts + 1
        if plain is not None:
            values["plain"] = plain
        async with self._tx() as conn:
            await conn.execute(transition(Event.RETRY, d.c.id == delivery_id).values(**values))

    async def park(self, delivery_id: int, error: str, now: datetime) -> None:
        """Stop trying a delivery (kept for the admins to inspect)."""
        async with self._tx() as conn:
            await conn.execute(
                transition(Event.PARK, d.c.id == delivery_id).values(
                    last_error=error[:500], attempts=d.c.attempts + 1, next_attempt_at=now
                )
            )

    async def _cancel_rule(self, conn: AsyncConnection, chat: str, rule_id: str) -> None:
        """The chat no longer wants ``rule_id``: unsent messages stop naming it, and those
        left naming no rule are cancelled."""
        unfinished = [st.value for st in sources(Event.CANCEL)]
        ids = select(d.c.id).where(d.c.chat == chat, d.c.status.in_(unfinished))
        await conn.execute(delete(dr).where(dr.c.rule_id == rule_id, dr.c.delivery_id.in_(ids)))
        await conn.execute(
            transition(
                Event.CANCEL,
                d.c.chat == chat,
                ~select(dr.c.delivery_id).where(dr.c.delivery_id == d.c.id).exists(),
            ).values(last_error="unsubscribed")
        )

    # -- reading --------------------------------------------------------------------------

    async def pending_count(self) -> int:
        """Deliveries to be sent as single alerts: pending, or leased to a sender."""
        to_send = [DeliveryState.PENDING.value, DeliveryState.LEASED.value]
        async with self._tx() as conn:
            result = await conn.execute(
                select(func.count()).select_from(d).where(d.c.status.in_(to_send))
            )
            return int(result.scalar_one())

    async def delivery_counts(self) -> dict[DeliveryState, int]:
        """How many deliveries are in each state."""
        async with self._tx() as conn:
            rows = await conn.execute(select(d.c.status, func.count()).group_by(d.c.status))
            return {DeliveryState(status): int(n) for status, n in rows.all()}

    async def sent_per_rule_and_day(self, since: datetime) -> list[tuple[str, str, int]]:
        """(rule id, UTC day as YYYY-MM-DD, alerts sent naming that rule) since ``since``."""
        day = (
            func.to_char(func.timezone("UTC", d.c.sent_at), "YYYY-MM-DD")
            if self.dialect == "postgresql"
            else func.strftime("%Y-%m-%d", d.c.sent_at)
        )
        async with self._tx() as conn:
            rows = await conn.execute(
                select(dr.c.rule_id, day.label("day"), func.count())
                .join(d, d.c.id == dr.c.delivery_id)
                .where(d.c.status == DeliveryState.SENT.value, d.c.sent_at >= since)
                .group_by(dr.c.rule_id, day)
                .order_by(day, dr.c.rule_id)
            )
            return [(r[0], str(r[1]), int(r[2])) for r in rows]

    async def _prune_deliveries(
        self, conn: AsyncConnection, now: datetime, retention: timedelta, max_hold: timedelta
    ) -> int:
        """Expire deliveries held longer than ``max_hold`` and forget finished ones older than
        ``retention``."""
        await conn.execute(
            transition(Event.EXPIRE, d.c.created_at < now - max_hold).values(
                last_error="the chat stayed unreachable"
            )
        )
        finished = [
            s.value for s in (DeliveryState.SENT, DeliveryState.JOINED, DeliveryState.CANCELLED)
        ]
        gone = await conn.execute(
            delete(d).where(d.c.status.in_(finished), d.c.created_at < now - retention)
        )
        return int(gone.rowcount or 0)
