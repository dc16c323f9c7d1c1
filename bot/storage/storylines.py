"""Stories across outlets in the outbox (edge): the single message a chat got for a story,
deliveries that join it, and the edits owed to such messages (table ``message_edits``; the
timing is :mod:`bot.core.storylines`'). Also the clustered stories of the window, from which
an instance's clustering stage starts and keeps in step with the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.models import Outlet
from bot.core.outbox import DeliveryState, Event
from bot.core.storylines import (
    ClusteredStory,
    EditJob,
    EditPolicy,
    Joining,
    SentStory,
    edit_due,
)
from bot.storage import schema as s
from bot.storage.database import chunks
from bot.storage.deliveries import DeliveryStore, transition
from bot.storage.stories import story_of

d, st, me = s.deliveries, s.stories, s.message_edits
_IN_MESSAGE = (DeliveryState.SENT.value, DeliveryState.JOINED.value)


class StorylineStore(DeliveryStore):
    """Messages per story across outlets."""

    async def story_messages(
        self, wanted: Iterable[tuple[str, str]], since: datetime
    ) -> dict[tuple[str, str], SentStory]:
        """For each (chat, story cluster) the single message the chat got for that story
        since ``since`` (the first one, if several), when there is one."""
        pairs = sorted(set(wanted))
        found: dict[tuple[str, str], SentStory] = {}
        async with self._tx() as conn:
            for chunk in chunks(pairs, 200):
                rows = await conn.execute(
                    select(d.c.chat, st.c.cluster, d.c.message_id, d.c.id, st.c.feed)
                    .join(st, st.c.id == d.c.story_id)
                    .where(
                        tuple_(d.c.chat, st.c.cluster).in_(chunk),
                        d.c.status == DeliveryState.SENT.value,
                        ~d.c.digest,
                        d.c.message_id.is_not(None),
                        d.c.sent_at >= since,
                    )
                    .order_by(d.c.id)
                )
                for chat, cluster, message_id, head_id, feed in rows:
                    found.setdefault(
                        (chat, cluster), SentStory(int(message_id), int(head_id), str(feed))
                    )
        return found

    async def join(self, joined: Sequence[Joining], now: datetime, policy: EditPolicy) -> None:
        """Leased deliveries become part of the messages their chats have for their stories,
        and each message a new outlet joined is owed an edit (see
        :func:`bot.core.storylines.edit_due`)."""
        async with self._tx() as conn:
            for joining in joined:
                await conn.execute(
                    # Part of a single message now, whether it waited for a digest or not.
                    transition(Event.JOIN, d.c.id == joining.delivery_id).values(
                        sent_at=now,
                        message_id=joining.message.message_id,
                        last_error=None,
                        digest=False,
                    )
                )
            for chat, message in {(j.chat, j.message) for j in joined if j.new_outlet}:
                await self._owe_edit(conn, chat, message, now, policy)

    async def _owe_edit(
        self,
        conn: AsyncConnection,
        chat: str,
        message: SentStory,
        now: datetime,
        policy: EditPolicy,
    ) -> None:
        where = (me.c.chat == chat, me.c.message_id == message.message_id)
        row = (await conn.execute(select(me.c.due_at, me.c.edited_at).where(*where))).first()
        if row is None:
            # The message lists the versions sent with it (folded into it at the time).
            shown = await conn.execute(
                select(st.c.feed)
                .distinct()
                .join(d, d.c.story_id == st.c.id)
                .where(
                    d.c.chat == chat,
                    d.c.message_id == message.message_id,
                    d.c.status == DeliveryState.SENT.value,
                    st.c.feed != message.feed,
                )
            )
            await conn.execute(
                self._insert_ignore(me, ["chat", "message_id"]).values(
                    chat=chat,
                    message_id=message.message_id,
                    head_id=message.head_id,
                    due_at=edit_due(now, None, policy),
                    joined_at=now,
                    edits=0,
                    failures=0,
                    listed=len(shown.all()),
                )
            )
            return
        due = row.due_at if row.due_at is not None else edit_due(now, row.edited_at, policy)
        await conn.execute(update(me).where(*where).values(due_at=due, joined_at=now))

    async def claim_edits(self, now: datetime, lease: timedelta, limit: int) -> list[EditJob]:
        """Lease up to ``limit`` due edits: each is pushed ``lease`` forward (due again then
        if its sender dies), and returned with its alert listing every version it carries."""
        async with self._tx() as conn:
            query = select(me.c.chat, me.c.message_id, me.c.head_id, me.c.listed).where(
                me.c.due_at.is_not(None), me.c.due_at <= now
            )
            query = query.order_by(me.c.due_at).limit(limit)
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            due = (await conn.execute(query)).all()
            if not due:
                return []
            keys = [(r.chat, r.message_id) for r in due]
            await conn.execute(
                update(me)
                .where(tuple_(me.c.chat, me.c.message_id).in_(keys))
                .values(due_at=now + lease)
            )
            jobs = []
            for row in due:
                job = await self._edit_job(
                    conn, row.chat, row.message_id, row.head_id, row.listed, now
                )
                if job is None:  # its alert is gone (pruned): nothing left to edit
                    await conn.execute(
                        delete(me).where(me.c.chat == row.chat, me.c.message_id == row.message_id)
                    )
                else:
                    jobs.append(job)
        return jobs

    async def _edit_job(
        self,
        conn: AsyncConnection,
        chat: str,
        message_id: int,
        head_id: int,
        listed: int,
        now: datetime,
    ) -> EditJob | None:
        member_ids = list(
            (
                await conn.execute(
                    select(d.c.id).where(
                        d.c.chat == chat,
                        d.c.message_id == message_id,
                        d.c.status.in_(_IN_MESSAGE),
                        ~d.c.digest,
                    )
                )
            ).scalars()
        )
        if head_id not in member_ids:
            return None
        alerts = await self._alerts(conn, member_ids, (d.c.id,))
        head = next(a for a in alerts if a.delivery_id == head_id)
        also = tuple(
            Outlet(a.delivery_id, a.feed_title, a.story.title, a.story.link)
            for a in alerts
            if a.delivery_id != head_id
        )
        rule_ids = list(head.rule_ids)
        mutes, subs = s.mutes, s.subscriptions
        muted = (
            await conn.execute(
                select(mutes.c.rule_id).where(
                    mutes.c.chat == chat,
                    mutes.c.rule_id.in_(rule_ids),
                    mutes.c.muted_until > now,
                )
            )
        ).scalars()
        subscribed = (
            await conn.execute(
                select(subs.c.rule_id).where(subs.c.chat == chat, subs.c.rule_id.in_(rule_ids))
            )
        ).scalars()
        return EditJob(
            chat=chat,
            message_id=message_id,
            alert=replace(head, also=also),
            rendered_at=now,
            listed=listed,
            muted=frozenset(muted),
            subscribed=frozenset(subscribed),
        )

    async def edited(
        self,
        chat: str,
        message_id: int,
        rendered_at: datetime,
        now: datetime,
        policy: EditPolicy,
        listed: int = 0,
    ) -> None:
        """The message was edited with what had joined it by ``rendered_at`` (it lists
        ``listed`` other outlets now): no edit is owed, unless a version joined since (then
        one is due :attr:`EditPolicy.every` on)."""
        async with self._tx() as conn:
            await conn.execute(
                update(me)
                .where(me.c.chat == chat, me.c.message_id == message_id)
                .values(
                    edited_at=now,
                    listed=listed,
                    edits=me.c.edits + 1,
                    failures=0,
                    due_at=case((me.c.joined_at > rendered_at, now + policy.every), else_=None),
                )
            )

    async def edit_later(
        self, chat: str, message_id: int, when: datetime, policy: EditPolicy, *, failed: bool
    ) -> None:
        """The edit could not be made now: due again at ``when``. A message whose edits failed
        :attr:`EditPolicy.max_failures` times in a row is edited no more."""
        where = and_(me.c.chat == chat, me.c.message_id == message_id)
        async with self._tx() as conn:
            if failed:
                await conn.execute(
                    update(me).where(where).values(failures=me.c.failures + 1, due_at=when)
                )
                await conn.execute(delete(me).where(where, me.c.failures >= policy.max_failures))
            else:
                await conn.execute(update(me).where(where).values(due_at=when))

    async def drop_edit(self, chat: str, message_id: int) -> None:
        """The message can no longer be edited (deleted, too old, its chat gone)."""
        async with self._tx() as conn:
            await conn.execute(delete(me).where(me.c.chat == chat, me.c.message_id == message_id))

    async def owed_edits(self) -> int:
        """Messages owed an edit."""
        async with self._tx() as conn:
            rows = await conn.execute(select(me.c.chat).where(me.c.due_at.is_not(None)))
            return len(rows.all())

    async def clustered_stories(
        self, since: datetime, after_id: int = 0, limit: int = 100_000
    ) -> list[ClusteredStory]:
        """Stories first seen since ``since`` that were clustered, stored after ``after_id``,
        oldest first (how an instance's clustering stage starts, and learns what the other
        instances placed)."""
        async with self._tx() as conn:
            rows = await conn.execute(
                select(
                    st.c.id,
                    st.c.feed,
                    st.c.key,
                    st.c.title,
                    st.c.link,
                    st.c.summary,
                    st.c.published_at,
                    st.c.cluster,
                    st.c.first_seen_at,
                )
                .where(st.c.cluster.is_not(None), st.c.first_seen_at >= since, st.c.id > after_id)
                .order_by(st.c.id)
                .limit(limit)
            )
            return [
                ClusteredStory(int(r.id), story_of(r), str(r.cluster), r.first_seen_at)
                for r in rows
            ]
