"""Poll timing and first-poll seeding (bot.core.schedule). All datetimes are aware UTC."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.models import FeedState, Story
from bot.core.schedule import (
    PollPolicy,
    SeedPolicy,
    adapted_interval,
    next_poll_after_failure,
    next_poll_after_success,
    previous_delay,
    stories_to_alert_on_seed,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
NO_JITTER = PollPolicy(jitter=0)


def rng(seed: int = 1234) -> random.Random:
    return random.Random(seed)


# -- after success --------------------------------------------------------------------------


def test_success_without_jitter_is_one_interval() -> None:
    assert next_poll_after_success(NOW, 10 * MIN, NO_JITTER, rng()) == NOW + 10 * MIN


@pytest.mark.parametrize("jitter", [0.05, 0.1, 0.5])
def test_success_jitter_stays_within_bounds_and_spreads(jitter: float) -> None:
    interval = 10 * MIN
    policy = PollPolicy(jitter=jitter)
    r = rng()
    delays = [next_poll_after_success(NOW, interval, policy, r) - NOW for _ in range(500)]
    assert all(interval * (1 - jitter) <= d <= interval * (1 + jitter) for d in delays)
    # Both sides of the interval are used, and the spread covers most of the range.
    assert min(delays) < interval * (1 - jitter / 2)
    assert max(delays) > interval * (1 + jitter / 2)


def test_success_jitter_is_reproducible_with_a_seed() -> None:
    policy = PollPolicy(jitter=0.1)
    first = [next_poll_after_success(NOW, HOUR, policy, r) for r in [rng(7)] for _ in range(5)]
    again = [next_poll_after_success(NOW, HOUR, policy, r) for r in [rng(7)] for _ in range(5)]
    assert first == again
    assert all(t.tzinfo is UTC for t in first)


@pytest.mark.parametrize(
    ("interval", "server_min_delay", "max_server_delay", "expected"),
    [
        pytest.param(10 * MIN, None, 24 * HOUR, 10 * MIN, id="no-server-hint"),
        pytest.param(10 * MIN, 5 * MIN, 24 * HOUR, 10 * MIN, id="hint-below-interval-ignored"),
        pytest.param(10 * MIN, 30 * MIN, 24 * HOUR, 30 * MIN, id="hint-stretches"),
        pytest.param(10 * MIN, 10 * MIN, 24 * HOUR, 10 * MIN, id="hint-equal"),
        pytest.param(10 * MIN, 48 * HOUR, 24 * HOUR, 24 * HOUR, id="hint-capped"),
        pytest.param(10 * MIN, 3 * HOUR, 2 * HOUR, 2 * HOUR, id="hint-capped-by-policy"),
        pytest.param(3 * HOUR, 48 * HOUR, 2 * HOUR, 3 * HOUR, id="cap-never-shortens-interval"),
    ],
)
def test_success_server_min_delay(
    interval: timedelta,
    server_min_delay: timedelta | None,
    max_server_delay: timedelta,
    expected: timedelta,
) -> None:
    policy = PollPolicy(jitter=0, max_server_delay=max_server_delay)
    got = next_poll_after_success(NOW, interval, policy, rng(), server_min_delay=server_min_delay)
    assert got == NOW + expected


def test_success_server_min_delay_overrides_jitter() -> None:
    policy = PollPolicy(jitter=0.5)
    r = rng()
    for _ in range(100):
        got = next_poll_after_success(NOW, 10 * MIN, policy, r, server_min_delay=20 * MIN)
        assert got == NOW + 20 * MIN


# -- after failure --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(0, 10 * MIN, id="zero-treated-as-first"),
        pytest.param(1, 10 * MIN, id="first-failure-one-interval"),
        pytest.param(2, 20 * MIN, id="second-doubles"),
        pytest.param(3, 40 * MIN, id="third"),
        pytest.param(4, 80 * MIN, id="fourth"),
        pytest.param(5, 160 * MIN, id="fifth"),
        pytest.param(6, 320 * MIN, id="sixth-just-below-cap"),
        pytest.param(7, 6 * HOUR, id="seventh-capped"),
        pytest.param(50, 6 * HOUR, id="many-capped"),
        pytest.param(10_000, 6 * HOUR, id="huge-count-no-overflow"),
    ],
)
def test_failure_backoff_doubles_up_to_the_cap(failures: int, expected: timedelta) -> None:
    got = next_poll_after_failure(NOW, 10 * MIN, failures, NO_JITTER, rng())
    assert got == NOW + expected


@pytest.mark.parametrize("failures", [1, 2, 5, 100])
def test_failure_backoff_never_below_the_interval(failures: int) -> None:
    policy = PollPolicy(jitter=0, max_backoff=HOUR)
    got = next_poll_after_failure(NOW, 12 * HOUR, failures, policy, rng())
    assert got == NOW + 12 * HOUR


@pytest.mark.parametrize(
    ("failures", "retry_after", "max_server_delay", "expected"),
    [
        pytest.param(1, 30 * MIN, 24 * HOUR, 30 * MIN, id="retry-after-longer-honoured"),
        pytest.param(1, 2 * MIN, 24 * HOUR, 10 * MIN, id="retry-after-shorter-ignored"),
        pytest.param(4, 30 * MIN, 24 * HOUR, 80 * MIN, id="backoff-longer-than-retry-after"),
        pytest.param(1, 72 * HOUR, 24 * HOUR, 24 * HOUR, id="retry-after-capped"),
        pytest.param(1, 5 * HOUR, 2 * HOUR, 2 * HOUR, id="retry-after-capped-by-policy"),
        pytest.param(1, timedelta(0), 24 * HOUR, 10 * MIN, id="retry-after-zero"),
    ],
)
def test_failure_retry_after(
    failures: int, retry_after: timedelta, max_server_delay: timedelta, expected: timedelta
) -> None:
    policy = PollPolicy(jitter=0, max_server_delay=max_server_delay)
    got = next_poll_after_failure(NOW, 10 * MIN, failures, policy, rng(), retry_after=retry_after)
    assert got == NOW + expected


@pytest.mark.parametrize("failures", [1, 3, 30])
def test_failure_jitter_stays_within_bounds(failures: int) -> None:
    policy = PollPolicy(jitter=0.1, max_backoff=2 * HOUR)
    base = min(10 * MIN * 2 ** (failures - 1), 2 * HOUR)
    r = rng(failures)
    for _ in range(300):
        delay = next_poll_after_failure(NOW, 10 * MIN, failures, policy, r) - NOW
        assert base * 0.9 <= delay <= base * 1.1


# -- first poll seeding ---------------------------------------------------------------------


def s(key: str, minutes_ago: float | None) -> Story:
    published = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    return Story(feed="f", key=key, title=key, published=published)


FEED = [
    s("a", 30),
    s("b", None),
    s("c", 5),
    s("d", 600),
    s("e", None),
    s("f", 60),
]


def keys(stories: list[Story]) -> list[str]:
    return [story.key for story in stories]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param(SeedPolicy(), [], id="default-nothing"),
        pytest.param(SeedPolicy(newest=1), ["c"], id="newest-1"),
        pytest.param(SeedPolicy(newest=2), ["a", "c"], id="newest-2-feed-order"),
        pytest.param(SeedPolicy(newest=4), ["a", "c", "d", "f"], id="all-dated"),
        pytest.param(SeedPolicy(newest=5), ["a", "b", "c", "d", "f"], id="undated-after-dated"),
        pytest.param(SeedPolicy(newest=100), ["a", "b", "c", "d", "e", "f"], id="more-than-feed"),
        pytest.param(SeedPolicy(max_age=timedelta(minutes=45)), ["a", "c"], id="max-age"),
        pytest.param(
            SeedPolicy(max_age=timedelta(minutes=60)), ["a", "c", "f"], id="max-age-inclusive"
        ),
        pytest.param(SeedPolicy(max_age=timedelta(0)), [], id="max-age-zero"),
        pytest.param(
            SeedPolicy(newest=1, max_age=timedelta(minutes=45)), ["a", "c"], id="both-overlap"
        ),
        pytest.param(
            SeedPolicy(newest=1, max_age=timedelta(minutes=61)), ["a", "c", "f"], id="both-union"
        ),
        pytest.param(
            SeedPolicy(newest=5, max_age=timedelta(minutes=10)),
            ["a", "b", "c", "d", "f"],
            id="both-newest-wider",
        ),
    ],
)
def test_seed_selection(policy: SeedPolicy, expected: list[str]) -> None:
    assert keys(stories_to_alert_on_seed(FEED, NOW, policy)) == expected


def test_seed_undated_feed_uses_feed_order() -> None:
    feed = [s(k, None) for k in "pqrs"]
    assert keys(stories_to_alert_on_seed(feed, NOW, SeedPolicy(newest=2))) == ["p", "q"]
    assert stories_to_alert_on_seed(feed, NOW, SeedPolicy(max_age=timedelta(days=365))) == []


def test_seed_ties_prefer_earlier_feed_position() -> None:
    feed = [s("x", None), s("y", 10), s("z", 10), s("w", 10)]
    assert keys(stories_to_alert_on_seed(feed, NOW, SeedPolicy(newest=2))) == ["y", "z"]


def test_seed_future_dated_story_counts_as_newest_and_recent() -> None:
    feed = [s("old", 90), s("future", -30)]
    assert keys(stories_to_alert_on_seed(feed, NOW, SeedPolicy(newest=1))) == ["future"]
    got = stories_to_alert_on_seed(feed, NOW, SeedPolicy(max_age=timedelta(minutes=5)))
    assert keys(got) == ["future"]


def test_seed_oldest_first_feed_keeps_its_order() -> None:
    feed = [s("old", 300), s("mid", 200), s("new", 100), s("newest", 1)]
    assert keys(stories_to_alert_on_seed(feed, NOW, SeedPolicy(newest=2))) == ["new", "newest"]


def test_seed_empty_feed() -> None:
    assert stories_to_alert_on_seed([], NOW, SeedPolicy(newest=3, max_age=HOUR)) == []


# -- adaptive intervals ---------------------------------------------------------------------

ADAPTIVE = PollPolicy(jitter=0, min_interval=2 * MIN, max_interval=HOUR)


@pytest.mark.parametrize(
    ("previous", "found_new", "expected"),
    [
        (10 * MIN, False, 12.5 * MIN),  # a quiet poll stretches by a quarter
        (10 * MIN, True, 5 * MIN),  # a poll with news halves it
        (50 * MIN, False, HOUR),  # ...never beyond max_interval
        (3 * MIN, True, 2 * MIN),  # ...never below min_interval
        (HOUR, False, HOUR),
        (90 * MIN, True, 45 * MIN),  # a TTL-stretched delay is the starting point, then floored
        (10 * MIN, None, 10 * MIN),  # a first poll decides nothing: the configured interval
        (None, False, 10 * MIN),  # no previous successful delay: the configured interval
        (None, True, 10 * MIN),
    ],
)
def test_adapted_interval_table(
    previous: timedelta | None, found_new: bool | None, expected: timedelta
) -> None:
    assert adapted_interval(10 * MIN, previous, found_new, ADAPTIVE) == expected


def test_by_default_adapting_only_ever_polls_sooner_than_configured() -> None:
    default = PollPolicy(jitter=0)
    assert default.max_interval is None
    assert adapted_interval(10 * MIN, 10 * MIN, False, default) == 10 * MIN  # not stretched
    assert adapted_interval(10 * MIN, 5 * MIN, False, default) == 6.25 * MIN  # back towards it
    assert adapted_interval(10 * MIN, 10 * MIN, True, default) == 5 * MIN  # busy: sooner
    assert adapted_interval(10 * MIN, 90 * MIN, False, default) == 10 * MIN  # after a TTL


def test_adapted_interval_off_is_the_configured_interval() -> None:
    off = PollPolicy(jitter=0, adaptive=False)
    assert adapted_interval(10 * MIN, 40 * MIN, False, off) == 10 * MIN
    assert adapted_interval(10 * MIN, 3 * MIN, True, off) == 10 * MIN


def test_a_feed_configured_slower_than_max_interval_keeps_its_interval_as_ceiling() -> None:
    daily = timedelta(days=1)
    assert adapted_interval(daily, daily, False, ADAPTIVE) == daily
    assert adapted_interval(daily, daily, True, ADAPTIVE) == daily / 2


def test_quiet_feed_converges_to_max_and_busy_feed_to_min() -> None:
    quiet: timedelta | None = 10 * MIN
    busy: timedelta | None = 10 * MIN
    for _ in range(30):
        quiet = adapted_interval(10 * MIN, quiet, False, ADAPTIVE)
        busy = adapted_interval(10 * MIN, busy, True, ADAPTIVE)
    assert quiet == HOUR
    assert busy == 2 * MIN
    # Three quiet polls about double the interval; one with news halves it again.
    delay: timedelta | None = 10 * MIN
    for _ in range(3):
        delay = adapted_interval(10 * MIN, delay, False, ADAPTIVE)
    assert delay is not None and 19 * MIN < delay < 20 * MIN
    assert adapted_interval(10 * MIN, delay, True, ADAPTIVE) == delay / 2


def test_feed_publishing_at_random_settles_where_a_quarter_of_polls_find_news() -> None:
    """A feed publishing on average every 20 minutes (Poisson): the interval wanders but its
    typical value is a few minutes, and about a quarter of the polls find something."""
    r = rng(5)
    policy = PollPolicy(jitter=0, min_interval=MIN, max_interval=6 * HOUR)
    delay = 10 * MIN
    hits = polls = 0
    delays = []
    for _ in range(4000):
        found = r.random() < 1 - pow(2.718281828, -delay / (20 * MIN))
        hits += found
        polls += 1
        delay = adapted_interval(10 * MIN, delay, found, policy)
        delays.append(delay)
    delays.sort()
    median = delays[len(delays) // 2]
    assert 0.18 < hits / polls < 0.32
    assert 3 * MIN < median < 10 * MIN


def test_adaptive_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="shrink"):
        PollPolicy(shrink=1.5)
    with pytest.raises(ValueError, match="shrink"):
        PollPolicy(stretch=0.5)
    with pytest.raises(ValueError, match="min_interval"):
        PollPolicy(min_interval=2 * HOUR, max_interval=HOUR)


def _state(**changes: object) -> FeedState:
    base = FeedState(
        name="f",
        url="https://example.invalid/f",
        seeded=True,
        last_polled_at=NOW,
        next_poll_at=NOW + 25 * MIN,
    )
    return replace(base, **changes)


def test_previous_delay_is_read_from_the_stored_state() -> None:
    assert previous_delay(_state()) == 25 * MIN


@pytest.mark.parametrize(
    "changes",
    [
        {"seeded": False},  # never polled successfully
        {"consecutive_failures": 2},  # the stored delay is a failure's backoff
        {"last_polled_at": None},
        {"next_poll_at": None},  # disabled, or never planned
        {"next_poll_at": NOW - MIN},  # nonsense (a clock jump): ignored
    ],
)
def test_previous_delay_unknown(changes: dict[str, object]) -> None:
    assert previous_delay(_state(**changes)) is None
