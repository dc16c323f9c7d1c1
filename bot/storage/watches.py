"""Personal watches (edge): the queries chats saved from Telegram, their states, and the
changes since a time, for instances that keep their matcher in step with the table."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from bot.core.watches import COUNTED, Watch, WatchError, WatchState, move, rule_id
from bot.storage import schema as s
from bot.storage.deliveries import DeliveryStore

w = s.watches

DRAFT_LIFETIME = timedelta(days=1)
"""Unconfirmed drafts older than this are forgotten when the chat makes a new one."""


def _watch(row: Any) -> Watch:
    return Watch(row.id, row.chat, row.query, WatchState(row.state), row.created_at, row.updated_at)


class WatchStore(DeliveryStore):
    """The watches aggregate."""

    async def draft_watch(self, chat: str, query: str, now: datetime) -> Watch:
        """Record a draft (what /watch previews); it counts for nothing until confirmed."""
        async with self._tx() as conn:
            await conn.execute(
                delete(w).where(
                    w.c.chat == chat,
                    w.c.state == WatchState.DRAFT.value,
                    w.c.created_at < now - DRAFT_LIFETIME,
                )
            )
            result = await conn.execute(
                insert(w)
                .values(
                    chat=chat,
                    query=query,
                    state=WatchState.DRAFT.value,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*w.c)
            )
            return _watch(result.one())

    async def watch(self, number: int) -> Watch | None:
        async with self._tx() as conn:
            row = (await conn.execute(select(w).where(w.c.id == number))).first()
            return _watch(row) if row else None

    async def watches_of(self, chat: str) -> list[Watch]:
        """The chat's watches that count (active or paused), oldest first."""
        async with self._tx() as conn:
            rows = await conn.execute(
                select(w)
                .where(w.c.chat == chat, w.c.state.in_([x.value for x in COUNTED]))
                .order_by(w.c.id)
            )
            return [_watch(r) for r in rows]

    async def set_watch(
        self,
        number: int,
        state: WatchState,
        now: datetime,
        *,
        query: str | None = None,
        limit: int | None = None,
    ) -> Watch:
        """Move a watch to ``state`` (and to a new query); with ``limit``, refuse to make a
        chat count more than that many watches. Raises :class:`WatchError` when the move is
        not allowed or the limit reached; checked and written in one transaction."""
        async with self._tx() as conn:
            row = (await conn.execute(select(w).where(w.c.id == number))).first()
            if row is None:
                raise WatchError(f"there is no watch {number}")
            current = _watch(row)
            target = move(current.state, state)
            if limit is not None and target in COUNTED and current.state not in COUNTED:
                counted = await conn.execute(
                    select(func.count())
                    .select_from(w)
                    .where(w.c.chat == current.chat, w.c.state.in_([x.value for x in COUNTED]))
                )
                if (counted.scalar() or 0) >= limit:
                    raise WatchError(f"the chat has {limit} watches already")
            values: dict[str, Any] = {"state": target.value, "updated_at": now}
            if query is not None:
                values["query"] = query
            result = await conn.execute(
                update(w).where(w.c.id == number).values(**values).returning(*w.c)
            )
            if target is not WatchState.ACTIVE:  # unsent alerts (held, in a digest) stop
                await self._cancel_rule(conn, current.chat, rule_id(number))
            return _watch(result.one())

    async def watches_changed(self, since: datetime | None) -> list[Watch]:
        """Every watch changed after ``since`` (None: every watch that is not a draft), in the
        order of their change."""
        stmt = select(w).order_by(w.c.updated_at, w.c.id)
        if since is None:
            stmt = stmt.where(w.c.state != WatchState.DRAFT.value)
        else:
            stmt = stmt.where(w.c.updated_at > since)
        async with self._tx() as conn:
            return [_watch(r) for r in await conn.execute(stmt)]
