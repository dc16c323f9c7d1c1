"""The bot's persistent state behind one small async API (edge: SQLAlchemy Core).

Everything that must survive a crash goes through here: feed state, stories already seen,
subscriptions, chats, and deliveries. The two operations that keep the "nothing lost, nothing
doubled" promise are :meth:`Store.commit_poll`, which in one transaction records a poll's new
stories, the deliveries they cause and the feed's new state, and :meth:`Store.claim_due`, which
leases due deliveries to one sender so that two instances never send the same one, while a
crashed sender's lease simply expires and the delivery is tried again.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Select,
    Table,
    and_,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.core.chats import base_chat
from bot.core.digest import ALL_RULES, ChatPrefs, Digest, QuietHours
from bot.core.errors import StorageError
from bot.core.models import Alert, FeedSpec, FeedState, PollRecord, Story
from bot.storage import schema as s

log = logging.getLogger(__name__)

_CHUNK = 400  # rows per multi-row INSERT: far below SQLite's bound-parameter limit


class Store:
    """Async access to the database. Create with :meth:`open`, release with :meth:`close`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect to ``url`` (an async SQLAlchemy URL) and bring the schema up to date."""
        try:
            if url.startswith("sqlite"):
                database = make_url(url).database
                if database and database != ":memory:":
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                # A few kept connections: opening one (a thread, four PRAGMAs) per transaction
                # cost more than the work of a poll that found nothing new. SQLite still
                # admits one writer at a time; busy_timeout makes the others wait their turn.
                engine = create_async_engine(
                    url, pool_size=4, max_overflow=4, pool_timeout=60, pool_pre_ping=False
                )
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            else:
                engine = create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)
            store = cls(engine)
            await store._migrate()
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"cannot open database {_safe_url(url)}: {_reason(exc)}") from exc
        return store

    async def close(self) -> None:
        await self._engine.dispose()

    async def _migrate(self) -> None:
        async with self._engine.begin() as conn:
            has_table = await conn.run_sync(
                lambda c: c.dialect.has_table(c, s.schema_migrations.name)
            )
            if not has_table:
                await conn.run_sync(s.create_latest)
                log.info("created database schema version %d", s.SCHEMA_VERSION)
                return
            current = (await conn.execute(select(func.max(s.schema_migrations.c.version)))).scalar()
        current = current or 0
        if current > s.SCHEMA_VERSION:
            raise StorageError(
                f"database schema version {current} is newer than this bot ({s.SCHEMA_VERSION}); "
                "upgrade newsbot"
            )
        for version, migration in s.MIGRATIONS:
            if version <= current:
                continue
            async with self._engine.begin() as conn:
                await conn.run_sync(migration)
                await conn.execute(
                    insert(s.schema_migrations), {"version": version, "applied_at": _now()}
                )
            log.info("migrated database to schema version %d", version)

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"database error: {_reason(exc)}") from exc

    async def schema_version(self) -> int:
        async with self._tx() as conn:
            return int(
                (await conn.execute(select(func.max(s.schema_migrations.c.version)))).scalar() or 0
            )

    # -- feeds ----------------------------------------------------------------------------

    async def sync_feeds(self, specs: Iterable[FeedSpec], now: datetime) -> dict[str, FeedState]:
        """Make sure every configured feed has a state row; a feed whose URL changed in the
        config starts over (its cache validators belong to the old URL). Returns the states of
        the configured feeds."""
        specs = list(specs)
        async with self._tx() as conn:
            rows = {r.name: r for r in (await conn.execute(select(s.feeds))).all()}
            for spec in specs:
                row = rows.get(spec.name)
                if row is None:
                    await conn.execute(
                        insert(s.feeds),
                        {
                            "name": spec.name,
                            "url": spec.url,
                            "seeded": False,
                            "consecutive_failures": 0,
                            "disabled": False,
                            "created_at": now,
                        },
                    )
                elif row.url != spec.url:
                    await conn.execute(
                        update(s.feeds)
                        .where(s.feeds.c.name == spec.name)
                        .values(
                            url=spec.url,
                            etag=None,
                            last_modified=None,
                            body_hash=None,
                            consecutive_failures=0,
                            disabled=False,
                            next_poll_at=None,
                        )
                    )
        states = await self.feed_states()
        return {spec.name: states[spec.name] for spec in specs}

    async def feed_states(self) -> dict[str, FeedState]:
        async with self._tx() as conn:
            rows = (await conn.execute(select(s.feeds).order_by(s.feeds.c.name))).all()
        return {r.name: _feed_state(r) for r in rows}

    async def save_feed_state(self, state: FeedState) -> None:
        """Record the outcome of a poll that brought no stories (failure, 304, same body)."""
        async with self._tx() as conn:
            await conn.execute(_feed_update(state))

    async def save_feed_states(self, states: Sequence[FeedState]) -> None:
        """Record several such outcomes in one transaction (most polls bring nothing: one
        commit for many of them is most of the cost of an unchanged feed)."""
        async with self._tx() as conn:
            for state in states:
                await conn.execute(_feed_update(state))

    async def unseen_keys(self, feed: str, keys: Iterable[str]) -> set[str]:
        """The story keys among ``keys`` that this feed has not stored yet."""
        wanted = list(dict.fromkeys(keys))
        seen: set[str] = set()
        async with self._tx() as conn:
            for chunk in _chunks(wanted, _CHUNK):
                result = await conn.execute(
                    select(s.stories.c.key).where(
                        s.stories.c.feed == feed, s.stories.c.key.in_(chunk)
                    )
                )
                seen.update(result.scalars())
        return set(wanted) - seen

    async def commit_poll(self, record: PollRecord, now: datetime) -> int:
        """Store a poll atomically: new stories, their deliveries, last-seen times and the feed
        state. Stories another instance stored meanwhile are skipped with their deliveries, so
        a story causes its deliveries exactly once. Returns the number of deliveries queued."""
        by_key = {story.key: story for story in record.stories}
        queued = 0
        async with self._tx() as conn:
            inserted: dict[str, int] = {}
            new_rows = [_story_row(by_key[k], now) for k in record.new_keys if k in by_key]
            for chunk in _chunks(new_rows, _CHUNK):
                stmt = self._insert_ignore(s.stories, ["feed", "key"]).values(chunk)
                result = await conn.execute(stmt.returning(s.stories.c.id, s.stories.c.key))
                inserted.update({key: story_id for story_id, key in result.all()})
            old_keys = [k for k in by_key if k not in inserted]
            for chunk in _chunks(old_keys, _CHUNK):
                await conn.execute(
                    update(s.stories)
                    .where(s.stories.c.feed == record.feed, s.stories.c.key.in_(chunk))
                    .values(last_seen_at=now)
                )
            # A chat known to be unreachable (removed the bot, blocked it) gets its alerts held
            # from the start: they go out when it comes back, without a failed attempt first.
            # (A forum topic is reachable when its chat is.)
            chats = list({base_chat(d.chat) for d in record.deliveries})
            unavailable: set[str] = set()
            for chunk in _chunks(chats, _CHUNK):
                result = await conn.execute(
                    select(s.chats.c.chat).where(
                        s.chats.c.chat.in_(chunk), s.chats.c.status != "active"
                    )
                )
                unavailable.update(result.scalars())
            rows = [
                {
                    "story_id": inserted[d.story_key],
                    "rule_id": d.rule_id,
                    "chat": d.chat,
                    "matched_terms": json.dumps(list(d.matched_terms), ensure_ascii=False),
                    "status": "held" if base_chat(d.chat) in unavailable else "pending",
                    "priority": d.priority,
                    "attempts": 0,
                    "plain": False,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for d in record.deliveries
                if d.story_key in inserted
            ]
            for chunk in _chunks(rows, _CHUNK):
                stmt = self._insert_ignore(s.deliveries, ["story_id", "rule_id", "chat"])
                result = await conn.execute(stmt.values(chunk).returning(s.deliveries.c.id))
                queued += len(result.all())
            await conn.execute(_feed_update(record.state))
        return queued

    def _insert_ignore(self, table: Table, conflict: list[str]) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict)
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict)

    # -- deliveries -----------------------------------------------------------------------

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Alert]:
        """Lease up to ``limit`` due deliveries to the caller, highest priority first, then
        oldest first.

        A claimed delivery's next attempt is pushed to ``now + lease``: other senders skip it,
        and if this one dies before marking it, it becomes due again when the lease runs out."""
        d = s.deliveries
        return await self._claim(
            "pending", now, lease, limit, (d.c.priority.desc(), d.c.next_attempt_at, d.c.id)
        )

    async def claim_digests(self, now: datetime, lease: timedelta, limit: int) -> list[Alert]:
        """Lease held deliveries whose digest is due (status ``digest``), a chat's together:
        ordered by chat, then as they were stored. Leased as :meth:`claim_due` does."""
        d = s.deliveries
        return await self._claim("digest", now, lease, limit, (d.c.chat, d.c.id))

    async def _claim(
        self, status: str, now: datetime, lease: timedelta, limit: int, order: tuple[Any, ...]
    ) -> list[Alert]:
        d, st = s.deliveries, s.stories
        async with self._tx() as conn:
            due: Select[Any] = (
                select(d.c.id)
                .where(d.c.status == status, d.c.next_attempt_at <= now)
                .order_by(*order)
                .limit(limit)
            )
            if self.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list((await conn.execute(due)).scalars())
            if not ids:
                return []
            claimed = await conn.execute(
                update(d)
                .where(d.c.id.in_(ids), d.c.status == status, d.c.next_attempt_at <= now)
                .values(next_attempt_at=now + lease)
                .returning(d.c.id)
            )
            claimed_ids = list(claimed.scalars())
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
                    )
                    .join(st, st.c.id == d.c.story_id)
                    .where(d.c.id.in_(claimed_ids))
                    .order_by(*order)
                )
            ).all()
        return [
            Alert(
                delivery_id=r.id,
                chat=r.chat,
                rule_id=r.rule_id,
                rule_title=r.rule_id,
                feed_title=r.feed,
                story=_story(r),
                matched_terms=tuple(json.loads(r.matched_terms)),
                attempts=r.attempts,
                plain=r.plain,
                priority=r.priority,
            )
            for r in rows
        ]

    async def hold_for_digest(self, held: Sequence[tuple[int, datetime]]) -> None:
        """Hold leased deliveries until their digest goes out: (delivery id, release time)."""
        by_time: dict[datetime, list[int]] = defaultdict(list)
        for delivery_id, when in held:
            by_time[when].append(delivery_id)
        async with self._tx() as conn:
            for when, ids in by_time.items():
                for chunk in _chunks(ids, _CHUNK):
                    await conn.execute(
                        update(s.deliveries)
                        .where(s.deliveries.c.id.in_(chunk), s.deliveries.c.status == "pending")
                        .values(status="digest", next_attempt_at=when)
                    )

    async def mark_many_sent(
        self, delivery_ids: Sequence[int], message_id: int | None, now: datetime
    ) -> None:
        """Deliveries that went out in one message: one alert, or a digest of several."""
        async with self._tx() as conn:
            for chunk in _chunks(list(delivery_ids), _CHUNK):
                await conn.execute(
                    update(s.deliveries)
                    .where(s.deliveries.c.id.in_(chunk))
                    .values(
                        status="sent",
                        sent_at=now,
                        message_id=message_id,
                        attempts=s.deliveries.c.attempts + 1,
                        last_error=None,
                    )
                )

    async def release(self, delivery_ids: Sequence[int], now: datetime) -> None:
        """Give back leased deliveries that were not attempted (clean shutdown)."""
        async with self._tx() as conn:
            for chunk in _chunks(list(delivery_ids), _CHUNK):
                await conn.execute(
                    update(s.deliveries)
                    .where(
                        s.deliveries.c.id.in_(chunk),
                        s.deliveries.c.status.in_(("pending", "digest")),
                    )
                    .values(next_attempt_at=now)
                )

    async def mark_sent(self, delivery_id: int, message_id: int | None, now: datetime) -> None:
        await self.mark_many_sent([delivery_id], message_id, now)

    async def retry_later(
        self,
        delivery_id: int,
        when: datetime,
        error: str,
        *,
        count_attempt: bool = True,
        plain: bool | None = None,
    ) -> int:
        """Schedule another attempt; returns the number of attempts made so far."""
        values: dict[str, Any] = {"next_attempt_at": when, "last_error": error[:500]}
        if count_attempt:
            values["attempts"] = s.deliveries.c.attempts + 1
        if plain is not None:
            values["plain"] = plain
        async with self._tx() as conn:
            result = await conn.execute(
                update(s.deliveries)
                .where(s.deliveries.c.id == delivery_id)
                .values(**values)
                .returning(s.deliveries.c.attempts)
            )
            return int(result.scalar_one())

    async def park(self, delivery_id: int, error: str, now: datetime) -> None:
        """Stop trying a delivery (kept for the admins to inspect and re-queue)."""
        async with self._tx() as conn:
            await conn.execute(
                update(s.deliveries)
                .where(s.deliveries.c.id == delivery_id)
                .values(
                    status="parked",
                    last_error=error[:500],
                    attempts=s.deliveries.c.attempts + 1,
                    next_attempt_at=now,
                )
            )

    async def pending_count(self) -> int:
        async with self._tx() as conn:
            result = await conn.execute(
                select(func.count())
                .select_from(s.deliveries)
                .where(s.deliveries.c.status == "pending")
            )
            return int(result.scalar_one())

    async def delivery_counts(self) -> dict[str, int]:
        async with self._tx() as conn:
            rows = await conn.execute(
                select(s.deliveries.c.status, func.count()).group_by(s.deliveries.c.status)
            )
            return {status: int(n) for status, n in rows.all()}

    # -- chats ----------------------------------------------------------------------------

    async def set_chat_status(
        self,
        chat: str,
        status: str,
        now: datetime,
        *,
        reason: str | None = None,
        kind: str | None = None,
        title: str | None = None,
    ) -> str | None:
        """Record a chat's status: ``active``, or ``blocked`` (403: the bot may not send).
        Returns the status it had before (None for a chat not seen yet).

        Deliveries to a blocked chat are held (status ``held``) rather than retried; they
        resume when the chat becomes active again."""
        async with self._tx() as conn:
            before = (
                await conn.execute(select(s.chats.c.status).where(s.chats.c.chat == chat))
            ).scalar()
            values: dict[str, Any] = {"status": status, "status_reason": reason, "updated_at": now}
            if kind:
                values["kind"] = kind
            if title is not None:
                values["title"] = title
            changed = await conn.execute(
                update(s.chats).where(s.chats.c.chat == chat).values(**values)
            )
            if changed.rowcount == 0:
                await conn.execute(
                    insert(s.chats), {"chat": chat, "kind": kind or "unknown", **values}
                )
            # The chat's forum topics share its fate.
            of_chat = or_(s.deliveries.c.chat == chat, s.deliveries.c.chat.like(f"{chat}/%"))
            if status == "active":
                await conn.execute(
                    update(s.deliveries)
                    .where(of_chat, s.deliveries.c.status == "held")
                    .values(status="pending", next_attempt_at=now)
                )
            else:
                await conn.execute(
                    update(s.deliveries)
                    .where(of_chat, s.deliveries.c.status.in_(("pending", "digest")))
                    .values(status="held", last_error=reason)
                )
        return str(before) if before is not None else None

    async def chat_statuses(self) -> dict[str, str]:
        async with self._tx() as conn:
            rows = await conn.execute(select(s.chats.c.chat, s.chats.c.status))
            return {row.chat: row.status for row in rows}

    async def migrate_chat(self, old: str, new: str, now: datetime) -> None:
        """A group became a supergroup: move its subscriptions and unsent deliveries."""
        async with self._tx() as conn:
            existing = set(
                (
                    await conn.execute(
                        select(s.subscriptions.c.rule_id).where(s.subscriptions.c.chat == new)
                    )
                ).scalars()
            )
            await conn.execute(
                delete(s.subscriptions).where(
                    s.subscriptions.c.chat == old, s.subscriptions.c.rule_id.in_(existing)
                )
            )
            await conn.execute(
                update(s.subscriptions).where(s.subscriptions.c.chat == old).values(chat=new)
            )
            # Unsent deliveries follow the chat unless the new id already has the same one.
            dup = s.deliveries.alias("dup")
            await conn.execute(
                update(s.deliveries)
                .where(
                    s.deliveries.c.chat == old,
                    s.deliveries.c.status.in_(("pending", "held", "digest")),
                    ~exists().where(
                        dup.c.story_id == s.deliveries.c.story_id,
                        dup.c.rule_id == s.deliveries.c.rule_id,
                        dup.c.chat == new,
                    ),
                )
                .values(chat=new, next_attempt_at=now)
            )
            await conn.execute(
                update(s.chats)
                .where(s.chats.c.chat == old)
                .values(status="migrated", status_reason=f"migrated to {new}", updated_at=now)
            )

    # -- subscriptions --------------------------------------------------------------------

    async def subscribe(self, chat: str, rule_id: str, now: datetime) -> bool:
        """Subscribe; False if the chat was already subscribed."""
        async with self._tx() as conn:
            stmt = self._insert_ignore(s.subscriptions, ["chat", "rule_id"]).values(
                chat=chat, rule_id=rule_id, created_at=now
            )
            result = await conn.execute(stmt.returning(s.subscriptions.c.rule_id))
            return result.first() is not None

    async def unsubscribe(self, chat: str, rule_id: str) -> bool:
        """Unsubscribe; False if the chat was not subscribed. Unsent alerts of that rule to that
        chat are dropped too: the person asked not to get them."""
        async with self._tx() as conn:
            result = await conn.execute(
                delete(s.subscriptions).where(
                    s.subscriptions.c.chat == chat, s.subscriptions.c.rule_id == rule_id
                )
            )
            await conn.execute(
                update(s.deliveries)
                .where(
                    s.deliveries.c.chat == chat,
                    s.deliveries.c.rule_id == rule_id,
                    s.deliveries.c.status.in_(("pending", "held", "digest")),
                )
                .values(status="dropped", last_error="unsubscribed")
            )
            return bool(result.rowcount)

    async def subscriptions_of(self, chat: str) -> list[str]:
        async with self._tx() as conn:
            rows = await conn.execute(
                select(s.subscriptions.c.rule_id)
                .where(s.subscriptions.c.chat == chat)
                .order_by(s.subscriptions.c.rule_id)
            )
            return list(rows.scalars())

    async def subscribers(
        self, rule_ids: Iterable[str], now: datetime | None = None
    ) -> dict[str, list[str]]:
        """Rule id -> chats subscribed to it. Chats the bot may not send to, and subscriptions
        or chats muted at ``now``, are left out: a muted subscription gets no alerts."""
        wanted = list(dict.fromkeys(rule_ids))
        result: dict[str, list[str]] = defaultdict(list)
        if not wanted:
            return result
        now = now or _now()
        sub, ch = s.subscriptions, s.chats
        async with self._tx() as conn:
            excluded = select(ch.c.chat).where(
                or_(
                    ch.c.status != "active",
                    and_(ch.c.muted_until.is_not(None), ch.c.muted_until > now),
                )
            )
            rows = await conn.execute(
                select(sub.c.rule_id, sub.c.chat)
                .where(
                    sub.c.rule_id.in_(wanted),
                    sub.c.chat.not_in(excluded),
                    or_(sub.c.muted_until.is_(None), sub.c.muted_until <= now),
                )
                .order_by(sub.c.chat)
            )
            unreachable = set(
                (await conn.execute(select(ch.c.chat).where(ch.c.status != "active"))).scalars()
            )
            for rule_id, chat in rows.all():
                if "/" in chat and base_chat(chat) in unreachable:
                    continue  # a forum topic of a chat the bot cannot post in
                result[rule_id].append(chat)
        return result

    async def mute(
        self, chat: str, rule_id: str | None, until: datetime | None, now: datetime
    ) -> bool:
        """Mute a subscription (``rule_id``) or the whole chat (None) until ``until``; None
        unmutes. Returns False when the chat has no such subscription."""
        async with self._tx() as conn:
            if rule_id is None:
                changed = await conn.execute(
                    update(s.chats)
                    .where(s.chats.c.chat == chat)
                    .values(muted_until=until, updated_at=now)
                )
                if changed.rowcount == 0:
                    await conn.execute(
                        insert(s.chats),
                        {
                            "chat": chat,
                            "kind": "unknown",
                            "status": "active",
                            "muted_until": until,
                            "updated_at": now,
                        },
                    )
                return True
            changed = await conn.execute(
                update(s.subscriptions)
                .where(s.subscriptions.c.chat == chat, s.subscriptions.c.rule_id == rule_id)
                .values(muted_until=until)
            )
            return bool(changed.rowcount)

    async def chat_settings(self, chat: str) -> tuple[datetime | None, dict[str, datetime | None]]:
        """(the chat's own mute, rule id -> that subscription's mute) for /mine and /settings."""
        async with self._tx() as conn:
            muted = (
                await conn.execute(select(s.chats.c.muted_until).where(s.chats.c.chat == chat))
            ).scalar()
            rows = await conn.execute(
                select(s.subscriptions.c.rule_id, s.subscriptions.c.muted_until)
                .where(s.subscriptions.c.chat == chat)
                .order_by(s.subscriptions.c.rule_id)
            )
            return muted, {row.rule_id: row.muted_until for row in rows}

    # -- delivery preferences: time zone, quiet hours, digests ------------------------------

    async def chat_prefs(self, chats: Iterable[str]) -> dict[str, ChatPrefs]:
        """Each chat's preferences (chats without any get the defaults: UTC, no quiet hours,
        no digests)."""
        wanted = list(dict.fromkeys(chats))
        found: dict[str, ChatPrefs] = {}
        async with self._tx() as conn:
            for chunk in _chunks(wanted, _CHUNK):
                rows = await conn.execute(
                    select(
                        s.chats.c.chat,
                        s.chats.c.timezone,
                        s.chats.c.quiet_start,
                        s.chats.c.quiet_end,
                    ).where(s.chats.c.chat.in_(chunk))
                )
                digests: dict[str, dict[str, Digest]] = defaultdict(dict)
                for row in await conn.execute(
                    select(s.digest_prefs).where(s.digest_prefs.c.chat.in_(chunk))
                ):
                    digests[row.chat][row.rule_id] = Digest(row.period, _clock(row.at_minute))
                seen = set()
                for row in rows:
                    seen.add(row.chat)
                    tz, tz_name = _zone(row.timezone)
                    quiet = None
                    if row.quiet_start is not None and row.quiet_end is not None:
                        quiet = QuietHours(_minute(row.quiet_start), _minute(row.quiet_end))
                    found[row.chat] = ChatPrefs(tz, tz_name, quiet, digests.get(row.chat, {}))
                for chat in set(digests) - seen:
                    found[chat] = ChatPrefs(digests=digests[chat])
        return {chat: found.get(chat) or ChatPrefs() for chat in wanted}

    async def set_timezone(self, chat: str, name: str | None, now: datetime) -> None:
        await self._set_chat_fields(chat, now, timezone=name)

    async def set_quiet(self, chat: str, quiet: QuietHours | None, now: datetime) -> None:
        await self._set_chat_fields(
            chat,
            now,
            quiet_start=_minutes(quiet.start) if quiet else None,
            quiet_end=_minutes(quiet.end) if quiet else None,
        )

    async def set_digest(self, chat: str, rule_id: str, digest: Digest, now: datetime) -> None:
        """Set a chat's digest for one rule, or for all (:data:`ALL_RULES`, which also clears
        the per-rule choices). Alerts already held are looked at again under the new choice."""
        p = s.digest_prefs
        async with self._tx() as conn:
            if rule_id == ALL_RULES:
                await conn.execute(delete(p).where(p.c.chat == chat))
            else:
                await conn.execute(delete(p).where(p.c.chat == chat, p.c.rule_id == rule_id))
            await conn.execute(
                insert(p),
                {
                    "chat": chat,
                    "rule_id": rule_id,
                    "period": digest.period,
                    "at_minute": _minutes(digest.at) if digest.at else None,
                    "updated_at": now,
                },
            )
            await self._reconsider_held(conn, chat, now)

    async def _set_chat_fields(self, chat: str, now: datetime, **values: Any) -> None:
        async with self._tx() as conn:
            changed = await conn.execute(
                update(s.chats).where(s.chats.c.chat == chat).values(updated_at=now, **values)
            )
            if changed.rowcount == 0:
                await conn.execute(
                    insert(s.chats),
                    {"chat": chat, "kind": "unknown", "status": "active", "updated_at": now}
                    | values,
                )
            await self._reconsider_held(conn, chat, now)

    @staticmethod
    async def _reconsider_held(conn: AsyncConnection, chat: str, now: datetime) -> None:
        """Alerts held for a digest or quiet hours become due again, so that the sender
        decides anew under the chat's new preferences (sending them, or holding them until
        the new time)."""
        await conn.execute(
            update(s.deliveries)
            .where(s.deliveries.c.chat == chat, s.deliveries.c.status == "digest")
            .values(status="pending", next_attempt_at=now)
        )

    async def sent_per_rule_and_day(self, since: datetime) -> list[tuple[str, str, int]]:
        """(rule id, UTC day as YYYY-MM-DD, alerts sent) since ``since``, for /stats."""
        d = s.deliveries
        day = (
            func.to_char(func.timezone("UTC", d.c.sent_at), "YYYY-MM-DD")
            if self.dialect == "postgresql"
            else func.strftime("%Y-%m-%d", d.c.sent_at)
        )
        async with self._tx() as conn:
            rows = await conn.execute(
                select(d.c.rule_id, day.label("day"), func.count())
                .where(d.c.status == "sent", d.c.sent_at >= since)
                .group_by(d.c.rule_id, day)
                .order_by(day, d.c.rule_id)
            )
            return [(r[0], str(r[1]), int(r[2])) for r in rows]

    # -- housekeeping ---------------------------------------------------------------------

    async def prune(
        self, now: datetime, story_retention: timedelta, delivery_retention: timedelta
    ) -> tuple[int, int]:
        """Forget finished deliveries and stories no longer in their feed after the retention
        periods. A story with an unfinished delivery is kept. Returns (stories, deliveries)."""
        d, st = s.deliveries, s.stories
        async with self._tx() as conn:
            gone_deliveries = await conn.execute(
                delete(d).where(
                    d.c.status.in_(("sent", "dropped")),
                    d.c.created_at < now - delivery_retention,
                )
            )
            gone_stories = await conn.execute(
                delete(st).where(
                    st.c.last_seen_at < now - story_retention,
                    ~exists().where(and_(d.c.story_id == st.c.id)),
                )
            )
        return int(gone_stories.rowcount or 0), int(gone_deliveries.rowcount or 0)

    async def recent_stories(self, since: datetime, limit: int = 100_000) -> list[Story]:
        """Stories first seen since ``since``, newest first (title, link and summary only)."""
        st = s.stories
        async with self._tx() as conn:
            rows = await conn.execute(
                select(st.c.feed, st.c.key, st.c.title, st.c.link, st.c.summary, st.c.published_at)
                .where(st.c.first_seen_at >= since)
                .order_by(st.c.first_seen_at.desc(), st.c.id.desc())
                .limit(limit)
            )
            return [_story(r) for r in rows]

    async def story_count(self) -> int:
        async with self._tx() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(s.stories))).scalar_one()
            )


def _now() -> datetime:
    return datetime.now(UTC)


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _minute(minutes: int) -> time:
    return time(minutes // 60 % 24, minutes % 60)


def _clock(minutes: int | None) -> time | None:
    return None if minutes is None else _minute(minutes)


def _zone(name: str | None) -> tuple[tzinfo, str]:
    """The zone of that IANA name; UTC when unset or no longer known to this system."""
    if not name:
        return UTC, "UTC"
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r stored for a chat; using UTC", name)
        return UTC, "UTC"


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _story_row(story: Story, now: datetime) -> dict[str, Any]:
    return {
        "feed": story.feed,
        "key": story.key,
        "title": story.title[:2000],
        "link": story.link,
        "summary": (story.summary or story.content)[:2000],
        "published_at": story.published,
        "first_seen_at": now,
        "last_seen_at": now,
    }


def _story(row: Any) -> Story:
    """A story as stored: title, link, summary (content is not kept) and published time."""
    return Story(
        feed=row.feed,
        key=row.key,
        title=row.title,
        link=row.link,
        summary=row.summary,
        published=row.published_at,
    )


_STATE_FIELDS = [f.name for f in fields(FeedState) if f.name != "name"]


def _feed_state(row: Any) -> FeedState:
    return FeedState(name=row.name, **{f: getattr(row, f) for f in _STATE_FIELDS})


def _feed_update(state: FeedState) -> Any:
    return (
        update(s.feeds)
        .where(s.feeds.c.name == state.name)
        .values(**{f: getattr(state, f) for f in _STATE_FIELDS})
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; busy_timeout waits for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}" if ":" in creds else url
    return url


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).splitlines()[0]
