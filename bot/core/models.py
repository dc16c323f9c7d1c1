"""Plain, frozen data records that flow between the core and the edges.

Datetimes are always timezone-aware UTC. Chats are identified by a string: a numeric Telegram
chat id (``"-1001234"``), optionally with a forum topic (``"-1001234/42"``). A public
``@username`` in a rule's ``notify`` is resolved to the chat's id as soon as Telegram tells it
(see :mod:`bot.core.routing`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

WATCH_PREFIX = "watch:"
"""Rule ids of personal watches are ``watch:<number>`` (see :mod:`bot.core.watches`)."""

FIELDS = ("title", "summary", "content", "link", "tags", "author")
"""Story fields a rule may look in."""


@dataclass(frozen=True, slots=True)
class Story:
    """One item of a feed, reduced to plain text."""

    feed: str
    key: str
    """Stable identity inside the feed: hash of the guid, else the link, else title and summary."""
    title: str
    link: str | None = None
    summary: str = ""
    content: str = ""
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str | None = None

    def field_text(self, name: str) -> str:
        """The text of one matchable field (see :data:`FIELDS`)."""
        if name == "title":
            return self.title
        if name == "summary":
            return self.summary
        if name == "content":
            return self.content
        if name == "link":
            return self.link or ""
        if name == "tags":
            return "\n".join(self.tags)
        if name == "author":
            return "\n".join(self.authors)
        raise ValueError(f"unknown story field {name!r}")


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as the configuration declares it."""

    name: str
    url: str
    interval: timedelta
    tags: tuple[str, ...] = ()
    language: str | None = None


class Lease(NamedTuple):
    """One claim on a feed's poll."""

    holder: str
    """The instance that claimed it."""
    token: str
    """This claim's own token: writing a state with it also ends the claim."""


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the bot remembers about a feed between polls."""

    name: str
    url: str
    """The URL the configuration gives."""
    moved_url: str | None = None
    """Where the feed permanently moved (301/308), polled instead of ``url`` until the
    configuration changes the URL."""
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    seeded: bool = False
    """True once the first successful poll recorded what the feed already held."""
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    next_poll_at: datetime | None = None
    disabled: bool = False
    lease: Lease | None = None
    """This instance's claim on the feed's poll, when it holds one: the state is written only
    while this instance holds the feed (compare-and-set), never over another instance's."""

    @property
    def poll_url(self) -> str:
        return self.moved_url or self.url


@dataclass(frozen=True, slots=True)
class FeedClaim:
    """The answer to an instance asking to poll a feed now."""

    state: FeedState
    """The feed's state as the database has it (with the claim's :attr:`FeedState.lease`
    when granted): another instance may have polled it since this one last looked."""
    granted: bool
    retry_at: datetime | None = None
    """Not granted: when to ask again (the feed's next poll, or the end of another
    instance's lease)."""
    took_over: str | None = None
    """Granted over the expired lease of this instance (it died or stalled mid-poll)."""
    resumed: bool = False
    """Granted over this same instance's earlier claim, still unreleased: its state from that
    poll may not be written yet (see :class:`bot.pipeline.Pipeline`), and is the newer one."""


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """The answer to an instance asking for (or renewing) a named lease."""

    held: bool
    holder: str | None
    expires_at: datetime | None
    took_over: str | None = None
    """Granted over the expired lease of this instance."""


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """One running (or stopped) instance, as ``newsbot status`` shows it."""

    id: str
    host: str
    pid: int
    role: str
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None


class Hit(NamedTuple):
    """One occurrence of a rule term in a story (a tuple: made by the thousand per second)."""

    term: str
    """The term as the rule wrote it."""
    field: str
    start: int
    end: int
    """Character offsets into the story field's text."""
    text: str
    """The story's own text at those offsets."""


class Explains(Protocol):
    """What a lazy :class:`Match` asks for its hits (the story's view, in the matcher)."""

    def explain(self, key: Any, /) -> tuple[Hit, ...]:
        """The hits of the rule that ``key`` identifies for the explainer."""
        ...


class Match:
    """A rule matched a story; ``hits`` explain why.

    The hits are worked out on first use: deciding which rules match is the hot path, and most
    callers only need the explanation of a few matches (those with recipients). A lazy match
    holds what explains it and that thing's key for the rule (the matcher creates about 134
    matches per story in the benchmark, so this stays four plain slots)."""

    __slots__ = ("_explain", "_hits", "_key", "rule_id")

    def __init__(
        self,
        rule_id: str,
        hits: tuple[Hit, ...] | None = None,
        explain: Explains | None = None,
        key: Any = None,
    ) -> None:
        self.rule_id = rule_id
        self._hits = hits
        self._explain = explain
        self._key = key

    @property
    def hits(self) -> tuple[Hit, ...]:
        if self._hits is None:
            if self._explain is None:
                raise ValueError("a Match needs its hits or a way to find them")
            self._hits = self._explain.explain(self._key)
            self._explain = self._key = None
        return self._hits

    @property
    def terms(self) -> tuple[str, ...]:
        """The distinct story spellings that matched, in order of first appearance."""
        return tuple(dict.fromkeys(hit.text for hit in self.hits))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return self.rule_id == other.rule_id and self.hits == other.hits

    def __hash__(self) -> int:
        return hash((self.rule_id, self.hits))

    def __repr__(self) -> str:
        return f"Match(rule_id={self.rule_id!r}, hits={self.hits!r})"


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that matched a story, as a message shows it."""

    rule_id: str
    terms: tuple[str, ...]
    """The story's own spellings of what matched."""
    priority: int = 0
    """See :data:`PRIORITIES`."""
    title: str = ""
    """The rule's title in the configuration in force (filled in before rendering)."""
    silent: bool = False
    link_preview: bool = False

    @property
    def label(self) -> str:
        """How alerts name the rule: its title; a personal watch's (its query) marked 👁."""
        label = self.title or self.rule_id
        return f"👁 {label}" if self.rule_id.startswith(WATCH_PREFIX) else label

    @property
    def urgent(self) -> bool:
        return self.priority >= URGENT


@dataclass(frozen=True, slots=True)
class Outlet:
    """Another outlet's version of an alert's story, as the alert lists it."""

    delivery_id: int
    feed_title: str
    title: str
    link: str | None


@dataclass(frozen=True, slots=True)
class Alert:
    """A delivery ready to be rendered and sent: one story to one chat, with every rule that
    matched it for that chat (at least one)."""

    delivery_id: int
    chat: str
    story: Story
    rules: tuple[RuleMatch, ...]
    feed_title: str
    attempts: int = 0
    plain: bool = False
    """Send without markup (a previous attempt was rejected for its formatting)."""
    digest: bool = False
    """Deferred earlier for a digest or quiet hours: goes out inside a digest message."""
    cluster: str | None = None
    """The story it reports (see :mod:`bot.core.clustering`); None: not clustered."""
    also: tuple[Outlet, ...] = ()
    """Other outlets' versions of the same story that this message carries."""

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.rule_id for r in self.rules)

    @property
    def matched_terms(self) -> tuple[str, ...]:
        """Every rule's terms, each once, in order."""
        return tuple(dict.fromkeys(t for r in self.rules for t in r.terms))

    @property
    def priority(self) -> int:
        return max((r.priority for r in self.rules), default=0)

    @property
    def silent(self) -> bool:
        """Without a notification sound only when every rule asks for it."""
        return bool(self.rules) and all(r.silent for r in self.rules)

    @property
    def link_preview(self) -> bool:
        return any(r.link_preview for r in self.rules)


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A message the routing stage decided on: one story (by key) to one chat, carrying every
    rule that matched it for that chat."""

    story_key: str
    chat: str
    rules: tuple[RuleMatch, ...]
    digest: bool = False
    """Goes out in a digest released at once (the chat's share of a burst was used up)."""

    @property
    def priority(self) -> int:
        """Higher leaves the queue first."""
        return max((r.priority for r in self.rules), default=0)


PRIORITIES: dict[str, int] = {"low": -1, "normal": 0, "high": 1, "urgent": 2}
"""A rule's ``priority`` and the number stored with each of its deliveries."""
URGENT = PRIORITIES["urgent"]


@dataclass(frozen=True, slots=True)
class PollRecord:
    """Everything one successful poll changes; the store commits it atomically."""

    feed: str
    state: FeedState | None
    """The feed's new state; None for all but the last slice of a huge poll."""
    stories: Sequence[Story]
    """Every story present in the body (new or not): refreshes their last-seen time."""
    new_keys: frozenset[str]
    """Keys of the stories that were not stored before this poll."""
    deliveries: Sequence[NewDelivery]
    carried: frozenset[str] = frozenset()
    """Keys of new stories stored by earlier slices of the same poll that some of
    ``deliveries`` belong to."""
    clusters: Mapping[str, str] = field(default_factory=dict)
    """Story key -> the story (cluster) it reports, for the new stories that matched."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """The outcome of one HTTP fetch of a feed."""

    url: str
    """The URL finally read (after redirects)."""
    not_modified: bool
    body: bytes = b""
    body_hash: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    permanent_url: str | None = None
    """Set when every redirect on the way was permanent: the feed has moved there."""
    max_age: timedelta | None = None
    """Cache-Control max-age: the server's hint not to ask again sooner."""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed body read into stories."""

    stories: tuple[Story, ...]
    title: str | None = None
    ttl: timedelta | None = None
    """RSS <ttl>: how long the publisher says the feed may be cached."""
    warning: str | None = None
    """Set when the body was ill-formed but stories could still be read."""
    skipped: int = 0
    """Items that could not be read and were left out (the others are kept)."""
