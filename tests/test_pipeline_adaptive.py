"""The pipeline's adaptive polling and its written-behind no-news states, on a real store.

A scripted fetcher and parser stand in for the network; the store is the real one (SQLite file,
and PostgreSQL when configured), so what survives a restart is what the database holds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.core.models import FeedSpec, FeedState, Fetched, ParsedFeed, Story
from bot.core.rules import RuleBook
from bot.core.schedule import PollPolicy, SeedPolicy
from bot.pipeline import Pipeline
from bot.storage import Store

MIN = timedelta(minutes=1)
SPEC = FeedSpec(name="news", url="https://example.invalid/news.xml", interval=10 * MIN)
TTL_SPEC = FeedSpec(name="slow", url="https://example.invalid/slow.xml", interval=10 * MIN)
POLICY = PollPolicy(jitter=0, min_interval=2 * MIN, max_interval=60 * MIN)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ScriptedFeed:
    """Serves a list of story titles; ``publish`` adds one; a body is its titles joined."""

    titles: list[str] = field(default_factory=lambda: ["first"])
    ttl: timedelta | None = None
    published: int = 0

    def publish(self) -> None:
        self.published += 1
        self.titles.insert(0, f"story {self.published}")

    def body(self) -> bytes:
        return "\n".join(self.titles).encode()


class Fetcher:
    def __init__(self, feeds: dict[str, ScriptedFeed]) -> None:
        self.feeds = feeds

    async def fetch(
        self, feed: str, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        body = self.feeds[feed].body()
        tag = str(hash(body))
        if etag == tag:
            return Fetched(url=url, not_modified=True)
        return Fetched(url=url, not_modified=False, body=body, body_hash=tag, etag=tag)


class Parser:
    def __init__(self, feeds: dict[str, ScriptedFeed]) -> None:
        self.feeds = feeds

    async def parse(self, feed: str, body: bytes, url: str, content_type: str | None) -> ParsedFeed:
        titles = body.decode().split("\n")
        stories = tuple(Story(feed=feed, key=t, title=t) for t in titles)
        return ParsedFeed(stories=stories, ttl=self.feeds[feed].ttl)


class BatchStore:
    """The real store, counting its state saves: single ones, and batches with their sizes
    (the pipeline's side of the batching is what is tested here)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.single_saves = 0
        self.batches: list[int] = []

    async def save_feed_states(self, states: Sequence[FeedState]) -> int:
        self.batches.append(len(states))
        return await self.store.save_feed_states(states)

    async def save_feed_state(self, state: FeedState) -> bool:
        self.single_saves += 1
        return await self.store.save_feed_state(state)

    async def unseen_keys(self, feed: str, keys: object) -> set[str]:
        return await self.store.unseen_keys(feed, keys)  # type: ignore[arg-type]

    async def subscribers(self, rule_ids: object, now: datetime | None = None) -> object:
        return await self.store.subscribers(rule_ids, now)  # type: ignore[arg-type]

    async def commit_poll(self, record: object, now: datetime) -> int:
        return await self.store.commit_poll(record, now)  # type: ignore[arg-type]


def pipeline(store: object, feeds: dict[str, ScriptedFeed], clock: Clock) -> Pipeline:
    return Pipeline(
        fetcher=Fetcher(feeds),
        parser=Parser(feeds),
        store=store,  # type: ignore[arg-type]
        rules=RuleBook([]),
        poll_policy=POLICY,
        seed_policy=SeedPolicy(),
        clock=clock,
        rng=random.Random(1),
    )


async def states(store: Store, *specs: FeedSpec) -> dict[str, FeedState]:
    return await store.sync_feeds(specs or (SPEC,), datetime(2026, 1, 1, tzinfo=UTC))


def gap(state: FeedState) -> timedelta:
    assert state.next_poll_at is not None and state.last_polled_at is not None
    return state.next_poll_at - state.last_polled_at


async def test_quiet_feed_slows_down_busy_feed_speeds_up_and_restart_keeps_the_pace(
    store: Store,
) -> None:
    feeds = {"news": ScriptedFeed()}
    clock = Clock()
    p = pipeline(store, feeds, clock)
    state = (await states(store))["news"]
    gaps = []
    outcomes = []
    for _ in range(4):  # seed, then three polls that find nothing
        result = await p.poll(SPEC, state)
        state = result.state
        outcomes.append(result.outcome)
        gaps.append(gap(state))
        clock.now = state.next_poll_at  # type: ignore[assignment]
    assert outcomes == ["seeded", "not_modified", "not_modified", "not_modified"]
    assert gaps == [10 * MIN, 12.5 * MIN, 15.625 * MIN, 19.53125 * MIN]

    # A restart: the old pipeline writes what it held back as it closes; a new one, with the
    # state read back from the database, continues the pace.
    await p.flush()
    stored = (await store.feed_states())["news"]
    assert gap(stored) == 19.53125 * MIN
    again = pipeline(store, feeds, clock)
    feeds["news"].publish()
    state = (await again.poll(SPEC, stored)).state
    assert gap(state) == 19.53125 * MIN / 2, "news halves the interval"
    for _ in range(5):
        clock.now = state.next_poll_at  # type: ignore[assignment]
        feeds["news"].publish()
        result = await again.poll(SPEC, state)
        state = result.state
        assert result.outcome == "new" and result.new_stories == 1
    assert gap(state) == 2 * MIN, "a feed that keeps publishing is polled at min_interval"


async def test_ttl_is_a_floor_and_a_failure_starts_over(store: Store) -> None:
    feeds = {"slow": ScriptedFeed(ttl=30 * MIN)}
    clock = Clock()
    p = pipeline(store, feeds, clock)
    state = (await states(store, TTL_SPEC))["slow"]
    state = (await p.poll(TTL_SPEC, state)).state
    assert gap(state) == 30 * MIN
    for _ in range(3):
        clock.now = state.next_poll_at  # type: ignore[assignment]
        feeds["slow"].publish()
        state = (await p.poll(TTL_SPEC, state)).state
        assert gap(state) == 30 * MIN, "never faster than the feed's TTL allows"

    # After a failure the backoff is not mistaken for an interval: start from the configured one.
    failed = FeedState(**{**_fields(state), "consecutive_failures": 1, "next_poll_at": None})
    feeds["slow"].ttl = None
    feeds["slow"].publish()
    assert gap((await p.poll(TTL_SPEC, failed)).state) == 10 * MIN


def _fields(state: FeedState) -> dict[str, object]:
    return {name: getattr(state, name) for name in FeedState.__dataclass_fields__}


async def test_no_news_states_are_written_behind_in_batches(store: Store) -> None:
    specs = [
        FeedSpec(name=f"f{i}", url=f"https://example.invalid/{i}", interval=10 * MIN)
        for i in range(5)
    ]
    feeds = {s.name: ScriptedFeed() for s in specs}
    clock = Clock()
    batch = BatchStore(store)
    p = pipeline(batch, feeds, clock)
    p.flush_size = 3
    current = await states(store, *specs)
    for spec in specs:  # first polls commit at once, with their stories
        current[spec.name] = (await p.poll(spec, current[spec.name])).state
    assert p.unsaved == 0 and batch.batches == []

    clock.now += 10 * MIN
    for spec in specs[:2]:  # two 304s: held back
        current[spec.name] = (await p.poll(spec, current[spec.name])).state
    assert p.unsaved == 2 and batch.batches == []
    held = await store.feed_states()
    assert held["f0"].last_polled_at != clock.now, "not written yet"

    # A poll with news commits its own state, and its older unsaved state is dropped.
    feeds["f1"].publish()
    current["f1"] = (await p.poll(specs[1], current["f1"])).state
    assert p.unsaved == 1

    for spec in specs[2:4]:  # the third held state reaches flush_size: one batch
        current[spec.name] = (await p.poll(spec, current[spec.name])).state
    assert batch.batches == [3] and p.unsaved == 0
    saved = await store.feed_states()
    for name in ("f0", "f2", "f3"):
        assert saved[name] == current[name]
    assert saved["f1"] == current["f1"]

    # An old held state is written on the next no-news poll after flush_after...
    current["f4"] = (await p.poll(specs[4], current["f4"])).state
    assert p.unsaved == 1
    clock.now += p.flush_after
    current["f0"] = (await p.poll(specs[0], current["f0"])).state
    assert batch.batches == [3, 2]
    # ...and flush() writes whatever is held (the end of a round, shutting down).
    clock.now += 10 * MIN
    current["f2"] = (await p.poll(specs[2], current["f2"])).state
    await p.flush()
    await p.flush()  # nothing left: no empty batch
    assert batch.batches == [3, 2, 1]
    assert (await store.feed_states())["f2"] == current["f2"]
    assert batch.single_saves == 0


async def test_adaptive_off_keeps_the_configured_interval(store: Store) -> None:
    feeds = {"news": ScriptedFeed()}
    clock = Clock()
    p = pipeline(store, feeds, clock)
    p.poll_policy = PollPolicy(jitter=0, adaptive=False)
    state = (await states(store))["news"]
    for publish in (False, False, True, True, False):
        if publish:
            feeds["news"].publish()
        state = (await p.poll(SPEC, state)).state
        assert gap(state) == 10 * MIN
        clock.now = state.next_poll_at  # type: ignore[assignment]
