"""Subscriptions and rule mutes: which chats follow which rule from Telegram, and which rules
a chat has paused, whether it follows them by subscription or by a rule's ``notify`` (edge)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, delete, select, update

from bot.core.routing import Audience
from bot.storage import schema as s
from bot.storage.chats import ChatStore
from bot.storage.deliveries import DeliveryStore

sub, mu, ch = s.subscriptions, s.mutes, s.chats


class SubscriptionStore(ChatStore, DeliveryStore):
    """The subscriptions aggregate (with the rule mutes that qualify them)."""

    async def subscribe(self, chat: str, rule_id: str, now: datetime) -> bool:
        """Subscribe; False if the chat was already subscribed."""
        async with self._tx() as conn:
            stmt = self._insert_ignore(sub, ["chat", "rule_id"]).values(
                chat=chat, rule_id=rule_id, created_at=now
            )
            result = await conn.execute(stmt.returning(sub.c.rule_id))
            return result.first() is not None

    async def unsubscribe(self, chat: str, rule_id: str) -> bool:
        """Unsubscribe; False if the chat was not subscribed. Unsent alerts to that chat stop
        naming the rule, and those that named only it are cancelled: the person asked not to
        get them."""
        async with self._tx() as conn:
            result = await conn.execute(
                delete(sub).where(sub.c.chat == chat, sub.c.rule_id == rule_id)
            )
            await conn.execute(delete(mu).where(mu.c.chat == chat, mu.c.rule_id == rule_id))
            await self._cancel_rule(conn, chat, rule_id)
            return bool(result.rowcount)

    async def gone_rules(self, in_force: Iterable[str], now: datetime) -> dict[str, list[str]]:
        """The rules chats subscribed to that are not in ``in_force``, newly found gone, with
        their subscribers: each is returned once, to whichever caller records it first (rows
        of ``gone_rules``); a rule back in force is forgotten there, so that its next removal
        counts again. Subscriptions stay (they hold again if the rule comes back)."""
        wanted = set(in_force)
        gone_t = s.gone_rules
        async with self._tx() as conn:
            subscribed = set((await conn.execute(select(sub.c.rule_id).distinct())).scalars())
            known = set((await conn.execute(select(gone_t.c.rule_id))).scalars())
            back = known & wanted
            if back:
                await conn.execute(delete(gone_t).where(gone_t.c.rule_id.in_(sorted(back))))
            missing = sorted(subscribed - wanted - known)
            if not missing:
                return {}
            stmt = self._insert_ignore(gone_t, ["rule_id"]).values(
                [{"rule_id": rule_id, "gone_at": now} for rule_id in missing]
            )
            recorded = set((await conn.execute(stmt.returning(gone_t.c.rule_id))).scalars())
            if not recorded:
                return {}
            rows = await conn.execute(
                select(sub.c.rule_id, sub.c.chat)
                .where(sub.c.rule_id.in_(sorted(recorded)))
                .order_by(sub.c.rule_id, sub.c.chat)
            )
            out: dict[str, list[str]] = defaultdict(list)
            for row in rows:
                out[row.rule_id].append(row.chat)
            return dict(out)

    async def subscriptions_of(self, chat: str) -> list[str]:
        async with self._tx() as conn:
            rows = await conn.execute(
                select(sub.c.rule_id).where(sub.c.chat == chat).order_by(sub.c.rule_id)
            )
            return list(rows.scalars())

    async def subscribers(self, rule_ids: Iterable[str]) -> dict[str, list[str]]:
        """Rule id -> chats subscribed to it, reachable or not."""
        audience = await self.audience(rule_ids, None)
        return {rule_id: list(chats) for rule_id, chats in audience.subscribers.items()}

    async def audience(self, rule_ids: Iterable[str], now: datetime | None) -> Audience:
        """Who follows ``rule_ids`` at ``now``, for the routing stage: subscribers (reachable
        or not: reachability only decides when a message goes out), the mutes in force, and
        the chats' other names."""
        wanted = list(dict.fromkeys(rule_ids))
        subscribers: dict[str, list[str]] = defaultdict(list)
        muted_rules: dict[str, set[str]] = defaultdict(set)
        muted_chats: set[str] = set()
        async with self._tx() as conn:
            if wanted:
                rows = await conn.execute(
                    select(sub.c.rule_id, sub.c.chat)
                    .where(sub.c.rule_id.in_(wanted))
                    .order_by(sub.c.chat)
                )
                for rule_id, chat in rows.all():
                    subscribers[rule_id].append(chat)
            if now is not None:
                for chat, rule_id in await conn.execute(
                    select(mu.c.chat, mu.c.rule_id).where(mu.c.muted_until > now)
                ):
                    muted_rules[chat].add(rule_id)
                muted_chats.update(
                    (
                        await conn.execute(
                            select(ch.c.chat).where(
                                and_(ch.c.muted_until.is_not(None), ch.c.muted_until > now)
                            )
                        )
                    ).scalars()
                )
            aliases = {row.alias: row.chat for row in await conn.execute(select(s.chat_aliases))}
        return Audience(
            subscribers=dict(subscribers),
            muted_rules={chat: frozenset(rules) for chat, rules in muted_rules.items()},
            muted_chats=frozenset(muted_chats),
            aliases=aliases,
        )

    async def mute(
        self, chat: str, rule_id: str | None, until: datetime | None, now: datetime
    ) -> None:
        """Mute one rule for the chat (``rule_id``) or the whole chat (None) until ``until``;
        None unmutes."""
        if rule_id is None:
            await self.mute_chat(chat, until, now)
            return
        async with self._tx() as conn:
            await conn.execute(delete(mu).where(mu.c.chat == chat, mu.c.rule_id == rule_id))
            if until is not None:
                await conn.execute(
                    self._insert_ignore(mu, ["chat", "rule_id"]).values(
                        chat=chat, rule_id=rule_id, muted_until=until
                    )
                )

    async def chat_settings(
        self, chat: str, now: datetime
    ) -> tuple[datetime | None, list[str], dict[str, datetime]]:
        """(the chat's own mute if in force, the rules it subscribed to, rule id -> the end of
        its mute for the rules muted now) for /mine and /settings."""
        async with self._tx() as conn:
            muted = (await conn.execute(select(ch.c.muted_until).where(ch.c.chat == chat))).scalar()
            subscribed = await conn.execute(
                select(sub.c.rule_id).where(sub.c.chat == chat).order_by(sub.c.rule_id)
            )
            mutes = await conn.execute(
                select(mu.c.rule_id, mu.c.muted_until).where(
                    mu.c.chat == chat, mu.c.muted_until > now
                )
            )
            return (
                muted if muted is not None and muted > now else None,
                list(subscribed.scalars()),
                {row.rule_id: row.muted_until for row in mutes},
            )

    async def _forget_expired_mutes(self, now: datetime) -> None:
        async with self._tx() as conn:
            await conn.execute(delete(mu).where(mu.c.muted_until <= now))
            await conn.execute(update(ch).where(ch.c.muted_until <= now).values(muted_until=None))
