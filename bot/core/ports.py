"""The interfaces the use-cases (polling, sending, commands) need from the edges.

Declared here, in the core, as protocols, so that :mod:`bot.pipeline` and :mod:`bot.sender` depend
on nothing but the core, and tests can pass in the real edges or simple fakes alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.chats import ChatStatus
from bot.core.digest import ChatPrefs, Digest, QuietHours
from bot.core.models import Alert, FeedState, Fetched, ParsedFeed, PollRecord, Story
from bot.core.render import Action
from bot.core.routing import Audience
from bot.core.storylines import EditJob, EditPolicy, Joining, SentStory
from bot.core.watches import Watch, WatchState


class FeedFetcher(Protocol):
    async def fetch(
        self, feed: str, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched: ...


class FeedParser(Protocol):
    """Parses a body off the event loop (in a worker process)."""

    async def parse(
        self, feed: str, body: bytes, url: str, content_type: str | None
    ) -> ParsedFeed: ...


class ChatIdentity(Protocol):
    """Chats' statuses and their one identity (see :mod:`bot.core.routing`)."""

    async def set_chat_status(
        self,
        chat: str,
        status: ChatStatus,
        now: datetime,
        *,
        reason: str | None = None,
        kind: str | None = None,
        title: str | None = None,
    ) -> ChatStatus | None: ...
    async def merge_chat(self, old: str, new: str, now: datetime, *, reason: str) -> None: ...
    async def aliases(self) -> dict[str, str]: ...


class PollStore(Protocol):
    async def unseen_keys(self, feed: str, keys: Iterable[str]) -> set[str]: ...
    async def audience(self, rule_ids: Iterable[str], now: datetime | None) -> Audience: ...
    async def commit_poll(self, record: PollRecord, now: datetime) -> int: ...
    async def save_feed_state(self, state: FeedState) -> bool: ...
    async def save_feed_states(self, states: Sequence[FeedState]) -> int:
        """Several states in one transaction (polls that brought nothing); each is written
        only while its claim stands. Returns how many were written."""
        ...


class DeliveryStore(ChatIdentity, Protocol):
    """The outbox, as the sender uses it (states: :mod:`bot.core.outbox`)."""

    async def claim_due(
        self, now: datetime, lease: timedelta, limit: int, per_chat: int | None = None
    ) -> list[Alert]: ...
    async def claim_digests(
        self, now: datetime, lease: timedelta, limit: int, chats: int = 50
    ) -> list[Alert]: ...
    async def defer(self, held: Sequence[tuple[int, datetime]]) -> None: ...
    async def chat_prefs(self, chats: Iterable[str]) -> dict[str, ChatPrefs]: ...
    async def mark_many_sent(
        self, delivery_ids: Sequence[int], message_id: int | None, now: datetime
    ) -> None: ...
    async def give_back(self, delivery_ids: Sequence[int], now: datetime) -> None: ...
    async def retry_later(
        self,
        delivery_id: int,
        when: datetime,
        error: str,
        *,
        count_attempt: bool = True,
        plain: bool | None = None,
    ) -> None: ...
    async def park(self, delivery_id: int, error: str, now: datetime) -> None: ...
    async def story_messages(
        self, wanted: Iterable[tuple[str, str]], since: datetime
    ) -> dict[tuple[str, str], SentStory]: ...
    async def join(self, joined: Sequence[Joining], now: datetime, policy: EditPolicy) -> None: ...
    async def claim_edits(self, now: datetime, lease: timedelta, limit: int) -> list[EditJob]: ...
    async def edited(
        self,
        chat: str,
        message_id: int,
        rendered_at: datetime,
        now: datetime,
        policy: EditPolicy,
        listed: int = 0,
    ) -> None: ...
    async def edit_later(
        self, chat: str, message_id: int, when: datetime, policy: EditPolicy, *, failed: bool
    ) -> None: ...
    async def drop_edit(self, chat: str, message_id: int) -> None: ...


class StoryPlacer(Protocol):
    """The clustering stage: which story (cluster) each newly matched item reports."""

    async def place(self, stories: Sequence[Story]) -> dict[str, str]:
        """Story key -> its cluster, for ``stories`` in arrival order."""
        ...


class Messenger(Protocol):
    """Sends one rendered alert to one chat; raises :class:`DeliveryError` subclasses."""

    def is_group(self, chat: str) -> bool: ...

    async def send(
        self,
        chat: str,
        html: str | None,
        plain: str,
        actions: Sequence[Action] = (),
        *,
        silent: bool = False,
        link_preview: bool = False,
        language: str | None = None,
    ) -> int | None:
        """Send ``html`` (or ``plain`` when ``html`` is None), offering ``actions`` (buttons,
        labelled in ``language``) where the medium has them; returns the message id if any."""
        ...

    async def edit(
        self,
        chat: str,
        message_id: int,
        html: str | None,
        plain: str,
        actions: Sequence[Action] = (),
        *,
        link_preview: bool = False,
        language: str | None = None,
    ) -> None:
        """Replace the text (and buttons) of message ``message_id`` sent to ``chat``; an
        edit that changes nothing succeeds."""
        ...

    async def notify_admins(self, text: str) -> None:
        """Tell the configured admins about something that needs a person (best effort)."""
        ...

    async def resolve(self, name: str) -> str | None:
        """The numeric id of the chat called ``@name``, or None when it cannot be known now."""
        ...


class SubscriptionStore(ChatIdentity, Protocol):
    async def subscribe(self, chat: str, rule_id: str, now: datetime) -> bool: ...
    async def recent_stories(self, since: datetime, limit: int = 100_000) -> list[Story]: ...
    async def mute(
        self, chat: str, rule_id: str | None, until: datetime | None, now: datetime
    ) -> None: ...
    async def chat_settings(
        self, chat: str, now: datetime
    ) -> tuple[datetime | None, list[str], dict[str, datetime]]: ...
    async def sent_per_rule_and_day(self, since: datetime) -> list[tuple[str, str, int]]: ...
    async def unsubscribe(self, chat: str, rule_id: str) -> bool: ...
    async def subscriptions_of(self, chat: str) -> list[str]: ...
    async def group_chats(self, limit: int = 100) -> dict[str, str | None]: ...
    async def chat_prefs(self, chats: Iterable[str]) -> dict[str, ChatPrefs]: ...
    async def set_timezone(self, chat: str, name: str | None, now: datetime) -> None: ...
    async def set_quiet(self, chat: str, quiet: QuietHours | None, now: datetime) -> None: ...
    async def set_language(self, chat: str, code: str | None, now: datetime) -> None: ...
    async def set_grouping(self, chat: str, on: bool, now: datetime) -> None: ...
    async def set_user_language(self, chat: str, code: str | None, now: datetime) -> None: ...
    async def set_digest(self, chat: str, rule_id: str, digest: Digest, now: datetime) -> None: ...


class WatchStore(Protocol):
    """Personal watches (see :mod:`bot.core.watches`)."""

    async def draft_watch(self, chat: str, query: str, now: datetime) -> Watch: ...
    async def watch(self, number: int) -> Watch | None: ...
    async def watches_of(self, chat: str) -> list[Watch]: ...
    async def set_watch(
        self,
        number: int,
        state: WatchState,
        now: datetime,
        *,
        query: str | None = None,
        limit: int | None = None,
    ) -> Watch: ...
    async def watches_changed(self, since: datetime | None) -> list[Watch]: ...


class CommandStore(SubscriptionStore, WatchStore, Protocol):
    """What the Telegram commands need: subscriptions, preferences and watches."""
