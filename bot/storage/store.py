"""The bot's persistent state behind one small async API (edge: SQLAlchemy Core).

:class:`Store` puts the storage parts together, one per aggregate: feeds
(:mod:`bot.storage.feeds`), stories (:mod:`~bot.storage.stories`), chats and their preferences
(:mod:`~bot.storage.chats`), subscriptions and mutes (:mod:`~bot.storage.subscriptions`),
personal watches (:mod:`~bot.storage.watches`), and
the outbox of deliveries (:mod:`~bot.storage.deliveries`). What spans them lives here: the one
transaction of a poll, and housekeeping.

The two operations that keep the "nothing lost, nothing doubled" promise are
:meth:`Store.commit_poll`, which in one transaction records a poll's new stories, the
deliveries they cause and the feed's new state, and the claims of
:class:`~bot.storage.deliveries.DeliveryStore`, which lease due deliveries to one sender.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.chats import base_chat
from bot.core.models import PollRecord
from bot.storage.coordination import CoordinationStore
from bot.storage.feeds import FeedStore, write_feed_state
from bot.storage.stories import StoryStore
from bot.storage.storylines import StorylineStore
from bot.storage.subscriptions import SubscriptionStore
from bot.storage.watches import WatchStore

DEFAULT_MAX_HOLD = timedelta(days=14)
"""How long deliveries to an unreachable chat are kept before they are cancelled."""


class Store(
    CoordinationStore, StorylineStore, SubscriptionStore, WatchStore, FeedStore, StoryStore
):
    """Async access to the database. Create with :meth:`open`, release with :meth:`close`."""

    async def commit_poll(self, record: PollRecord, now: datetime) -> int:
        """Store a poll atomically: new stories, their deliveries, last-seen times and the feed
        state. Stories another instance stored meanwhile are skipped with their deliveries, so
        a story causes its deliveries exactly once. Returns the number of deliveries queued."""
        async with self._tx() as conn:
            inserted = await self._store_stories(
                conn, record.feed, record.stories, record.new_keys, now, record.clusters
            )
            if record.carried:
                inserted |= await self._story_ids(conn, record.feed, record.carried)
            # A chat known to be unreachable gets its alerts held from the start: they go
            # out when it comes back, without a failed attempt first.
            unreachable = await self._unreachable(
                conn, (base_chat(x.chat) for x in record.deliveries)
            )
            queued = await self._queue(conn, record.deliveries, inserted, unreachable, now)
            if record.state is not None:
                await write_feed_state(conn, record.state)
        return queued

    async def prune(
        self,
        now: datetime,
        story_retention: timedelta,
        delivery_retention: timedelta,
        max_hold: timedelta = DEFAULT_MAX_HOLD,
    ) -> tuple[int, int]:
        """Housekeeping: cancel deliveries held longer than ``max_hold``, forget finished
        deliveries and stories no longer in their feed after the retention periods (a story
        with a delivery is kept), and expired mutes. Returns (stories, deliveries) removed."""
        async with self._tx() as conn:
            deliveries = await self._prune_deliveries(conn, now, delivery_retention, max_hold)
            stories = await self._prune_stories(conn, now - story_retention)
        await self._forget_expired_mutes(now)
        return stories, deliveries
