"""Chats: their one identity (aliases), reachability, and delivery preferences (time zone,
quiet hours, digests, a mute of the whole chat) (edge).

A chat is known by its numeric id. Other names lead to it through ``chat_aliases``: the
``@username`` of a channel or group, and the old id of a group that became a supergroup.
:meth:`ChatStore.merge_chat` moves everything a name held (subscriptions, mutes, settings,
unsent deliveries) to the chat's id, so nothing is held for a name that no longer sends.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.chats import ChatStatus
from bot.core.digest import ALL_RULES, ChatPrefs, Digest, QuietHours
from bot.core.outbox import Event, sources
from bot.storage import schema as s
from bot.storage.database import Database, chunks
from bot.storage.deliveries import of_chat, transition

log = logging.getLogger(__name__)

d, ch = s.deliveries, s.chats


class ChatStore(Database):
    """The chats aggregate."""

    async def set_chat_status(
        self,
        chat: str,
        status: ChatStatus | str,
        now: datetime,
        *,
        reason: str | None = None,
        kind: str | None = None,
        title: str | None = None,
    ) -> ChatStatus | None:
        """Record whether the bot can post in a chat. Returns the status it had before (None
        for a chat not seen yet). The chat's deliveries, and its forum topics', are held while
        it is unreachable and resume when it is reachable again."""
        status = ChatStatus(status)
        async with self._tx() as conn:
            before = (await conn.execute(select(ch.c.status).where(ch.c.chat == chat))).scalar()
            values: dict[str, Any] = {
                "status": status.value,
                "status_reason": reason,
                "updated_at": now,
            }
            if kind:
                values["kind"] = kind
            if title is not None:
                values["title"] = title
            await self._upsert_chat(conn, chat, values)
            if status == ChatStatus.ACTIVE:
                await conn.execute(
                    transition(Event.RESUME, of_chat(chat)).values(next_attempt_at=now)
                )
            else:
                await conn.execute(transition(Event.HOLD, of_chat(chat)).values(last_error=reason))
        return ChatStatus(before) if before is not None else None

    async def _upsert_chat(self, conn: AsyncConnection, chat: str, values: dict[str, Any]) -> None:
        changed = await conn.execute(update(ch).where(ch.c.chat == chat).values(**values))
        if changed.rowcount == 0:
            row = {"chat": chat, "kind": "unknown", "status": ChatStatus.ACTIVE.value}
            await conn.execute(insert(ch), row | values)

    async def group_chats(self, limit: int = 100) -> dict[str, str | None]:
        """Groups and channels the bot can post in (negative ids) -> their titles."""
        async with self._tx() as conn:
            rows = await conn.execute(
                select(ch.c.chat, ch.c.title)
                .where(
                    ch.c.chat.like("-%"),
                    ~ch.c.chat.contains("/"),  # a forum topic's settings: not a chat of its own
                    ch.c.status == ChatStatus.ACTIVE.value,
                )
                .order_by(ch.c.chat)
                .limit(limit)
            )
            return {row.chat: row.title for row in rows}

    async def chat_statuses(self) -> dict[str, ChatStatus]:
        async with self._tx() as conn:
            rows = await conn.execute(select(ch.c.chat, ch.c.status))
            return {row.chat: ChatStatus(row.status) for row in rows}

    @staticmethod
    async def _unreachable(conn: AsyncConnection, chats: Iterable[str]) -> set[str]:
        """Those of ``chats`` (without topics) the bot cannot post in now."""
        wanted = list(dict.fromkeys(chats))
        found: set[str] = set()
        for chunk in chunks(wanted):
            result = await conn.execute(
                select(ch.c.chat).where(
                    ch.c.chat.in_(chunk), ch.c.status != ChatStatus.ACTIVE.value
                )
            )
            found.update(result.scalars())
        return found

    # -- identity -------------------------------------------------------------------------

    async def aliases(self) -> dict[str, str]:
        """Every other name of a chat -> the chat's id."""
        async with self._tx() as conn:
            rows = await conn.execute(select(s.chat_aliases.c.alias, s.chat_aliases.c.chat))
            return {row.alias: row.chat for row in rows}

    async def merge_chat(self, old: str, new: str, now: datetime, *, reason: str) -> None:
        """``old`` (a ``@username`` or a former id) is chat ``new`` from now on: its
        subscriptions, mutes, digests, settings, watches and unsent deliveries (its forum
        topics' too) move to ``new`` where ``new`` has none of its own, and ``old`` becomes an
        alias."""
        if old == new:
            return
        async with self._tx() as conn:
            for table in (s.subscriptions, s.mutes, s.digest_prefs):
                await _move_rows(conn, table, old, new)
            await self._merge_chat_rows(conn, old, new, now, reason)
            # Unsent deliveries follow, unless the chat already has the same story.
            dup = d.alias("dup")
            unfinished = [st.value for st in sources(Event.CANCEL)]
            targets = (
                await conn.execute(
                    select(d.c.chat).distinct().where(of_chat(old), d.c.status.in_(unfinished))
                )
            ).scalars()
            for source in list(targets):
                dest = new + source[len(old) :]  # a forum topic stays the same topic
                await conn.execute(
                    update(d)
                    .where(
                        d.c.chat == source,
                        d.c.status.in_(unfinished),
                        ~exists().where(dup.c.story_id == d.c.story_id, dup.c.chat == dest),
                    )
                    .values(chat=dest, next_attempt_at=now)
                )
            await conn.execute(
                transition(Event.CANCEL, of_chat(old)).values(last_error=f"now {new}")
            )
            status = (await conn.execute(select(ch.c.status).where(ch.c.chat == new))).scalar()
            if status in (None, ChatStatus.ACTIVE.value):  # a chat not seen yet is reachable
                await conn.execute(
                    transition(Event.RESUME, of_chat(new)).values(next_attempt_at=now)
                )
            else:
                await conn.execute(transition(Event.HOLD, of_chat(new)))
            # Watches follow (updated_at: the other instances apply the move too).
            w = s.watches
            moved = await conn.execute(
                select(w.c.id, w.c.chat).where(or_(w.c.chat == old, w.c.chat.like(old + "/%")))
            )
            for number, chat in moved.all():
                await conn.execute(
                    update(w)
                    .where(w.c.id == number)
                    .values(chat=new + chat[len(old) :], updated_at=now)
                )
            a = s.chat_aliases
            await conn.execute(update(a).where(a.c.chat == old).values(chat=new))
            # Two merges of one name can run at once (a send resolving @name while Telegram
            # reports the chat's membership): the alias is written so that both succeed.
            await conn.execute(
                self._insert_ignore(a, ["alias"]), {"alias": old, "chat": new, "created_at": now}
            )
            await conn.execute(update(a).where(a.c.alias == old).values(chat=new))

    async def _merge_chat_rows(
        self, conn: AsyncConnection, old: str, new: str, now: datetime, reason: str
    ) -> None:
        """The new id inherits the old one's settings it does not have itself."""
        settings = ("kind", "title", "timezone", "quiet_start", "quiet_end", "muted_until")
        before = (await conn.execute(select(ch).where(ch.c.chat == old))).first()
        after = (await conn.execute(select(ch).where(ch.c.chat == new))).first()
        if before is not None:
            inherited: dict[str, Any] = {
                key: getattr(before, key)
                for key in settings
                if getattr(before, key) is not None
                and (after is None or getattr(after, key) in (None, "unknown"))
            }
            if after is None:  # (or a concurrent merge has just created it: then that wins)
                await conn.execute(
                    self._insert_ignore(ch, ["chat"]),
                    {"kind": "unknown", "status": before.status}
                    | inherited
                    | {"chat": new, "status_reason": before.status_reason, "updated_at": now},
                )
            elif inherited:
                await conn.execute(
                    update(ch).where(ch.c.chat == new).values(updated_at=now, **inherited)
                )
            await conn.execute(
                update(ch)
                .where(ch.c.chat == old)
                .values(status=ChatStatus.MIGRATED.value, status_reason=reason, updated_at=now)
            )

    # -- preferences ----------------------------------------------------------------------

    async def chat_prefs(self, chats: Iterable[str]) -> dict[str, ChatPrefs]:
        """Each chat's preferences (chats without any get the defaults: UTC, no quiet hours,
        no digests)."""
        wanted = list(dict.fromkeys(chats))
        found: dict[str, ChatPrefs] = {}
        async with self._tx() as conn:
            for chunk in chunks(wanted):
                rows = await conn.execute(
                    select(
                        ch.c.chat,
                        ch.c.timezone,
                        ch.c.quiet_start,
                        ch.c.quiet_end,
                        ch.c.language,
                        ch.c.user_language,
                        ch.c.group_stories,
                    ).where(ch.c.chat.in_(chunk))
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
                    found[row.chat] = ChatPrefs(
                        tz,
                        tz_name,
                        quiet,
                        digests.get(row.chat, {}),
                        row.language,
                        row.user_language,
                        row.group_stories is not False,
                    )
                for chat in set(digests) - seen:
                    found[chat] = ChatPrefs(digests=digests[chat])
        return {chat: found.get(chat) or ChatPrefs() for chat in wanted}

    async def set_timezone(self, chat: str, name: str | None, now: datetime) -> None:
        await self._set_chat_fields(chat, now, timezone=name)

    async def set_language(self, chat: str, code: str | None, now: datetime) -> None:
        """The language the chat chose (None: follow the person's Telegram language)."""
        async with self._tx() as conn:
            await self._upsert_chat(conn, chat, {"language": code, "updated_at": now})

    async def set_grouping(self, chat: str, on: bool, now: datetime) -> None:
        """Whether other outlets' versions of a story the chat got join its message (True,
        the default) or are alerts of their own."""
        async with self._tx() as conn:
            await self._upsert_chat(conn, chat, {"group_stories": on, "updated_at": now})

    async def set_user_language(self, chat: str, code: str | None, now: datetime) -> None:
        """The Telegram ``language_code`` the chat's person writes with."""
        async with self._tx() as conn:
            await self._upsert_chat(conn, chat, {"user_language": code, "updated_at": now})

    async def set_quiet(self, chat: str, quiet: QuietHours | None, now: datetime) -> None:
        await self._set_chat_fields(
            chat,
            now,
            quiet_start=_minutes(quiet.start) if quiet else None,
            quiet_end=_minutes(quiet.end) if quiet else None,
        )

    async def set_digest(self, chat: str, rule_id: str, digest: Digest, now: datetime) -> None:
        """Set a chat's digest for one rule, or for all (:data:`ALL_RULES`, which also clears
        the per-rule choices). Alerts already waiting are looked at again under the new
        choice."""
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
            await _reconsider_waiting(conn, chat, now)

    async def mute_chat(self, chat: str, until: datetime | None, now: datetime) -> None:
        """Mute the whole chat until ``until`` (None: unmute)."""
        async with self._tx() as conn:
            await self._upsert_chat(conn, chat, {"muted_until": until, "updated_at": now})

    async def _set_chat_fields(self, chat: str, now: datetime, **values: Any) -> None:
        async with self._tx() as conn:
            await self._upsert_chat(conn, chat, {"updated_at": now} | values)
            await _reconsider_waiting(conn, chat, now)


async def _reconsider_waiting(conn: AsyncConnection, chat: str, now: datetime) -> None:
    """Alerts waiting for a digest or quiet hours become due again, so that the sender decides
    anew under the chat's new preferences (sending them, or deferring them to the new time)."""
    await conn.execute(
        transition(Event.RECONSIDER, d.c.chat == chat).values(next_attempt_at=now, digest=False)
    )


async def _move_rows(conn: AsyncConnection, table: Any, old: str, new: str) -> None:
    """Rows keyed (chat, rule_id) of ``old`` and its topics move to ``new``, except where
    ``new`` has the same key already (its own choice wins)."""
    rows = (
        await conn.execute(
            select(table.c.chat, table.c.rule_id).where(
                (table.c.chat == old) | table.c.chat.like(f"{old}/%")
            )
        )
    ).all()
    for row in rows:
        dest = new + row.chat[len(old) :]
        taken = (
            await conn.execute(
                select(table.c.rule_id).where(table.c.chat == dest, table.c.rule_id == row.rule_id)
            )
        ).first()
        where = (table.c.chat == row.chat) & (table.c.rule_id == row.rule_id)
        if taken is not None:
            await conn.execute(delete(table).where(where))
        else:
            await conn.execute(update(table).where(where).values(chat=dest))


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
