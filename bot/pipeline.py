"""The polling use-case: one feed, fetched, parsed, checked for new stories, matched against the
rules, and the resulting deliveries stored, all before anything is sent.

Order matters for "nothing lost": the feed's new cache validators, its new stories and the
deliveries they cause are committed in one transaction (:meth:`PollStore.commit_poll`). A crash
before the commit means the next poll sees the same stories as new again; a crash after it
leaves deliveries pending for the sender. The first successful poll of a feed only records what
is there (see :class:`SeedPolicy`), so adding a feed never floods anyone.

Most polls bring nothing (a 304, or the same body) or fail: their new feed state (poll times,
errors, next poll) is written behind, many feeds per transaction (``save_feed_states``), at most
:attr:`Pipeline.flush_after` seconds or :attr:`Pipeline.flush_size` feeds later, and on
:meth:`Pipeline.flush`. Losing such a state in a crash costs nothing but an early poll (or a
failure count one short). After
each successful poll the feed's interval adapts to how often it publishes
(:func:`bot.core.schedule.adapted_interval`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.core.errors import FeedError, FeedGone, StorageError
from bot.core.models import FeedSpec, FeedState, Fetched, Match, NewDelivery, PollRecord, Story
from bot.core.outage import StorageHealth
from bot.core.ports import FeedFetcher, FeedParser, PollStore, StoryPlacer
from bot.core.routing import Audience, cap_burst, route
from bot.core.rules import RuleBook
from bot.core.schedule import (
    PollPolicy,
    SeedPolicy,
    adapted_interval,
    next_poll_after_failure,
    next_poll_after_success,
    previous_delay,
    stories_to_alert_on_seed,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did, for logs, status and tests."""

    feed: str
    outcome: str
    """``new`` (body parsed), ``not_modified`` (304), ``unchanged`` (same body), ``failed``,
    ``gone`` (410: feed disabled), ``seeded`` (first poll recorded the feed's contents),
    ``storage_error`` (the database failed: polled again within seconds) or ``elsewhere``
    (not polled: another instance is polling it, or already did)."""
    state: FeedState
    stories: int = 0
    new_stories: int = 0
    deliveries: int = 0
    error: str | None = None
    fetch_seconds: float = 0.0
    """How long the fetch took (a slow server makes its feed a slow one; a slow database
    does not)."""


class Pipeline:
    """Polls feeds; holds the rules in force (:attr:`rules`, replaced on reload)."""

    def __init__(
        self,
        *,
        fetcher: FeedFetcher,
        parser: FeedParser,
        store: PollStore,
        rules: RuleBook,
        poll_policy: PollPolicy,
        seed_policy: SeedPolicy,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        on_deliveries: Callable[[int], None] = lambda n: None,
        on_feed_gone: Callable[[FeedSpec, str], None] = lambda spec, reason: None,
        only_recipient: str | None = None,
        burst: int = 20,
        storage: StorageHealth | None = None,
        clusters: StoryPlacer | None = None,
    ) -> None:
        self.clusters = clusters
        """The clustering stage (None: every story is a story of its own)."""
        self.fetcher = fetcher
        self.parser = parser
        self.store = store
        self.rules = rules
        self.poll_policy = poll_policy
        self.seed_policy = seed_policy
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_deliveries = on_deliveries
        self.on_feed_gone = on_feed_gone
        self.only_recipient = only_recipient
        """When set (console mode), every match goes to this one chat instead of the rule's
        targets and subscribers: a dry run prints each alert once."""
        self._fetch_times: dict[str, float] = {}
        """Feed -> how long its fetch under way took (a feed never polls twice at once)."""
        self.storage = storage or StorageHealth()
        """The database's health, shared with the sender (admins told of long outages)."""
        self.slice_size = 1000
        """Stories matched and stored per transaction in one poll."""
        self.burst = burst
        """Alerts one poll of one feed sends one chat as messages of their own; the rest
        arrive together, in one digest."""
        self.flush_size = 200
        """Unsaved no-news states that trigger a write."""
        self.flush_after = timedelta(seconds=5)
        """Age of the oldest unsaved no-news state that triggers a write."""
        self._unsaved: dict[str, FeedState] = {}
        self._unsaved_since: datetime | None = None
        self._writing = asyncio.Lock()
        """One write transaction at a time from this process. SQLite has a single writer:
        dozens of concurrent polls otherwise queue inside its busy handler, one connection
        each, and under load some give up ("database is locked"); queued here they cost
        nothing and wait their turn. Reads are not serialized."""

    async def poll(self, spec: FeedSpec, state: FeedState) -> PollResult:
        """Poll one feed. Never raises for a feed's own failure: it is recorded in the state.
        When the database fails, the feed is polled again within seconds (its state kept in
        memory meanwhile): nothing was stored, so the next poll finds the same stories new."""
        try:
            return await self._poll(spec, state)
        except StorageError as exc:
            return self.storage_failed(spec, state, exc)

    @property
    def writing(self) -> asyncio.Lock:
        """Held for each write transaction of this process (see ``_writing``)."""
        return self._writing

    def storage_failed(self, spec: FeedSpec, state: FeedState, exc: StorageError) -> PollResult:
        """The result of a poll the database failed: polled again within seconds."""
        now = self.clock()
        self.storage.failed(now, str(exc))
        retry = now + self.storage.retry_in()
        log.warning("feed %s: %s; polling it again at %s", spec.name, str(exc), retry)
        return PollResult(
            spec.name, "storage_error", replace(state, next_poll_at=retry), error=str(exc)
        )

    async def _poll(self, spec: FeedSpec, state: FeedState) -> PollResult:
        result = await self._poll_once(spec, state)
        return replace(result, fetch_seconds=self._fetch_times.pop(spec.name, 0.0))

    async def _poll_once(self, spec: FeedSpec, state: FeedState) -> PollResult:
        started = self.clock()
        begun = time.monotonic()
        try:
            try:
                fetched = await self.fetcher.fetch(
                    spec.name, state.poll_url, etag=state.etag, last_modified=state.last_modified
                )
            finally:
                self._fetch_times[spec.name] = time.monotonic() - begun
            if fetched.not_modified or (
                fetched.body_hash is not None and fetched.body_hash == state.body_hash
            ):
                new_state = self._succeeded(
                    spec, state, fetched, started, ttl=None, found_new=False
                )
                await self._save_later(new_state)
                outcome = "not_modified" if fetched.not_modified else "unchanged"
                log.debug("feed %s: %s", spec.name, outcome)
                return PollResult(spec.name, outcome, new_state)
            parsed = await self.parser.parse(
                spec.name, fetched.body, fetched.url, fetched.content_type
            )
        except FeedGone as exc:
            return await self._gone(spec, state, exc, started)
        except FeedError as exc:
            return await self._failed(spec, state, exc, started)
        if parsed.warning:
            log.info("feed %s: ill-formed but readable (%s)", spec.name, parsed.warning)
        if parsed.skipped:
            log.warning("feed %s: %d unreadable items skipped", spec.name, parsed.skipped)
        return await self._ingest(spec, state, fetched, parsed.stories, parsed.ttl, started)

    async def _ingest(
        self,
        spec: FeedSpec,
        state: FeedState,
        fetched: Fetched,
        stories: Sequence[Story],
        ttl: timedelta | None,
        started: datetime,
    ) -> PollResult:
        unseen = await self.store.unseen_keys(spec.name, (s.key for s in stories))
        new = [s for s in stories if s.key in unseen]
        seeding = not state.seeded
        candidates = stories_to_alert_on_seed(new, started, self.seed_policy) if seeding else new
        new_state = self._succeeded(
            spec, state, fetched, started, ttl=ttl, found_new=None if seeding else bool(new)
        )
        self._unsaved.pop(spec.name, None)  # this state is newer
        # A huge poll is matched and stored a slice at a time: other feeds' polls and the
        # sender get their turns in between. The feed's new state (validators, body hash) is
        # written with the last slice only, so a crash part way makes the next poll read the
        # body again and find the rest of the stories still new.
        # What a burst sends beyond each chat's share waits for the last slice, so that it
        # goes out as one digest once the whole poll is stored.
        wanted = {s.key for s in candidates}
        sent_per_chat: Counter[str] = Counter()
        overflow: list[NewDelivery] = []
        stored: set[str] = set()
        queued = 0
        slices = [stories[i : i + self.slice_size] for i in range(0, len(stories), self.slice_size)]
        for index, part in enumerate(slices or [stories]):
            last = index == len(slices) - 1 or not slices
            routed, clusters = await self._deliveries(spec, [s for s in part if s.key in wanted])
            capped = cap_burst(routed, sent_per_chat, self.burst)
            overflow.extend(d for d in capped if d.digest)
            record = PollRecord(
                feed=spec.name,
                state=new_state if last else None,
                stories=part,
                new_keys=frozenset(s.key for s in part if s.key in unseen),
                deliveries=[d for d in capped if not d.digest] + (overflow if last else []),
                carried=frozenset(stored) if last else frozenset(),
                clusters=clusters,
            )
            stored.update(record.new_keys)
            async with self._writing:
                queued += await self.store.commit_poll(record, self.clock())
            self.storage.recovered(self.clock())
            if not last:
                await asyncio.sleep(0)
        if queued:
            self.on_deliveries(queued)
        outcome = "seeded" if seeding else "new"
        log.info(
            "feed %s: %d stories, %d new, %d alerts queued%s",
            spec.name,
            len(stories),
            len(new),
            queued,
            " (first poll: existing stories recorded, not alerted)" if seeding else "",
        )
        return PollResult(spec.name, outcome, new_state, len(stories), len(new), queued)

    async def _deliveries(
        self, spec: FeedSpec, stories: Sequence[Story]
    ) -> tuple[list[NewDelivery], dict[str, str]]:
        """Match the new stories, place the matched ones in their stories (clusters), then
        let the routing stage decide the messages."""
        book = self.rules
        matched: list[tuple[Story, Sequence[Match]]] = []
        for story in stories:
            matches = book.matcher.match(story)
            if matches:
                matched.append((story, matches))
        if not matched:
            return [], {}
        clusters: dict[str, str] = {}
        if self.clusters is not None:
            try:
                clusters = await self.clusters.place([story for story, _ in matched])
            except StorageError:
                raise  # the poll is retried within seconds, like any database failure
            except Exception:  # a bug or the embedding model: each story is its own
                log.exception("feed %s: clustering failed; its stories go out unmerged", spec.name)
        if self.only_recipient is not None:
            audience = Audience()
        else:
            rule_ids = {m.rule_id for _, matches in matched for m in matches}
            audience = await self.store.audience(rule_ids, self.clock())
        routed = route(matched, book.routes, audience, only_recipient=self.only_recipient)
        return routed, clusters

    def _succeeded(
        self,
        spec: FeedSpec,
        state: FeedState,
        fetched: Fetched,
        now: datetime,
        ttl: timedelta | None,
        found_new: bool | None,
    ) -> FeedState:
        """The state after a successful poll; ``found_new`` says whether it found new stories
        (None: a first poll, which decides nothing about the feed's pace)."""
        server_delay = max((d for d in (fetched.max_age, ttl) if d is not None), default=None)
        interval = adapted_interval(
            spec.interval, previous_delay(state), found_new, self.poll_policy
        )
        changed_body = not fetched.not_modified
        if fetched.permanent_url and fetched.permanent_url != state.poll_url:
            log.warning(
                "feed %s moved permanently to %s; polling it there (update config.yaml)",
                spec.name,
                fetched.permanent_url,
            )
        return replace(
            state,
            moved_url=fetched.permanent_url or state.moved_url,
            etag=fetched.etag if changed_body else state.etag,
            last_modified=fetched.last_modified if changed_body else state.last_modified,
            body_hash=fetched.body_hash if changed_body else state.body_hash,
            seeded=True,
            last_polled_at=now,
            last_success_at=now,
            consecutive_failures=0,
            # From the poll's end, not its start: a poll that took its whole time-out must
            # not be due again at once.
            next_poll_at=next_poll_after_success(
                self.clock(), interval, self.poll_policy, self.rng, server_min_delay=server_delay
            ),
        )

    async def _failed(
        self, spec: FeedSpec, state: FeedState, exc: FeedError, now: datetime
    ) -> PollResult:
        failures = state.consecutive_failures + 1
        retry_after = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
        new_state = replace(
            state,
            last_polled_at=now,
            last_error=exc.reason,
            last_error_at=now,
            consecutive_failures=failures,
            next_poll_at=next_poll_after_failure(
                self.clock(),
                spec.interval,
                failures,
                self.poll_policy,
                self.rng,
                retry_after=retry_after,
            ),
        )
        # Written behind, with other states: a feed's failure must not queue the write of
        # another feed's news behind it (during a database outage each write waits out the
        # busy time-out); the scheduler goes by the state returned.
        await self._save_later(new_state)
        log.warning(
            "feed %s: %s (failure %d in a row; next try %s)",
            spec.name,
            exc.reason,
            failures,
            new_state.next_poll_at,
        )
        return PollResult(spec.name, "failed", new_state, error=exc.reason)

    async def _gone(
        self, spec: FeedSpec, state: FeedState, exc: FeedGone, now: datetime
    ) -> PollResult:
        new_state = replace(
            state,
            last_polled_at=now,
            last_error=exc.reason,
            last_error_at=now,
            consecutive_failures=state.consecutive_failures + 1,
            disabled=True,
            next_poll_at=None,
        )
        self._unsaved[spec.name] = new_state
        await self.flush()  # at once, but kept in memory if the database fails
        log.error("feed %s: %s; the feed is disabled until its URL changes", spec.name, exc.reason)
        self.on_feed_gone(spec, exc.reason)
        return PollResult(spec.name, "gone", new_state, error=exc.reason)

    # -- writing no-news states behind ---------------------------------------------------

    async def _save_later(self, state: FeedState) -> None:
        """Record a poll that brought nothing, with others (see the module docstring)."""
        now = self.clock()
        if not self._unsaved:
            self._unsaved_since = now
        self._unsaved[state.name] = state
        since = self._unsaved_since or now
        if len(self._unsaved) >= self.flush_size or now - since >= self.flush_after:
            await self.flush()

    def unsaved_state(self, feed: str) -> FeedState | None:
        """The feed's state from a poll, not written yet."""
        return self._unsaved.get(feed)

    @property
    def unsaved(self) -> int:
        """No-news feed states not written yet."""
        return len(self._unsaved)

    async def flush(self) -> None:
        """Write the no-news feed states held back, in one transaction. Call it when a round
        of polls ends and before closing; it is cheap when there is nothing to write."""
        if not self._unsaved:
            return
        states, self._unsaved, self._unsaved_since = self._unsaved, {}, None
        try:
            async with self._writing:
                await self.store.save_feed_states(list(states.values()))
        except StorageError as exc:
            # Kept for the next flush, unless a newer state of the feed came meanwhile.
            for name, kept in states.items():
                self._unsaved.setdefault(name, kept)
            self._unsaved_since = self._unsaved_since or self.clock()
            self.storage.failed(self.clock(), str(exc))
            log.warning("feed states not saved (%s); kept to save later", exc)
            return
        self.storage.recovered(self.clock())
