"""Telegram flood-limit pacing (bot.core.pacing) on a fake clock."""

from __future__ import annotations

import itertools
import math
from collections import deque

import pytest

from bot.core.pacing import Limits, Pacer, retry_delay

LIMITS = Limits()
CHAT_GAP = LIMITS.per_chat_interval
GROUP_WINDOW = 60.0 + LIMITS.window_slack
GLOBAL_WINDOW = 1.0 + LIMITS.window_slack


def test_first_message_goes_at_once() -> None:
    pacer = Pacer()
    assert pacer.delay("1", False, 0.0) == 0
    assert pacer.delay("-100", True, 0.0) == 0


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(10.0, CHAT_GAP, id="same-instant"),
        pytest.param(10.5, CHAT_GAP - 0.5, id="half-a-second-later"),
        pytest.param(10.0 + CHAT_GAP, 0.0, id="gap-elapsed"),
        pytest.param(20.0, 0.0, id="long-after"),
    ],
)
def test_per_chat_spacing(now: float, expected: float) -> None:
    pacer = Pacer()
    pacer.record("1", False, 10.0)
    assert pacer.delay("1", False, now) == pytest.approx(expected)
    assert pacer.delay("2", False, now) == 0


def test_per_chat_spacing_applies_to_groups_too() -> None:
    pacer = Pacer()
    pacer.record("-100", True, 0.0)
    assert pacer.delay("-100", True, 0.0) == pytest.approx(CHAT_GAP)


def send_group_burst(pacer: Pacer, chat: str, count: int) -> list[float]:
    times = [i * CHAT_GAP for i in range(count)]
    for t in times:
        assert pacer.delay(chat, True, t) == pytest.approx(0, abs=1e-9)
        pacer.record(chat, True, t)
    return times


def test_group_limit_twenty_per_minute() -> None:
    pacer = Pacer()
    times = send_group_burst(pacer, "-100", 20)
    now = times[-1] + CHAT_GAP
    # The 21st message waits until the first one leaves the one-minute window.
    assert pacer.delay("-100", True, now) == pytest.approx(times[0] + GROUP_WINDOW - now)
    assert pacer.delay("-100", True, times[0] + GROUP_WINDOW) == 0
    # Another group, and private chats, are not affected.
    assert pacer.delay("-200", True, now) == 0
    assert pacer.delay("7", False, now) == 0


def test_group_window_slides() -> None:
    pacer = Pacer()
    times = send_group_burst(pacer, "-100", 20)
    pacer.record("-100", True, times[0] + GROUP_WINDOW)
    # Now the second message of the burst is the oldest in the window.
    now = times[0] + GROUP_WINDOW + CHAT_GAP
    assert pacer.delay("-100", True, now) == pytest.approx(times[1] + GROUP_WINDOW - now)


def test_private_chat_has_no_per_minute_limit() -> None:
    pacer = Pacer()
    for i in range(25):
        t = i * CHAT_GAP
        assert pacer.delay("1", False, t) == pytest.approx(0, abs=1e-9)
        pacer.record("1", False, t)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(0.0, GLOBAL_WINDOW, id="same-instant"),
        pytest.param(0.5, GLOBAL_WINDOW - 0.5, id="inside-window"),
        pytest.param(GLOBAL_WINDOW, 0.0, id="window-elapsed"),
    ],
)
def test_global_limit_thirty_per_second(now: float, expected: float) -> None:
    pacer = Pacer()
    for i in range(30):
        pacer.record(f"user{i}", False, 0.0)
    assert pacer.delay("another", False, now) == pytest.approx(expected)
    assert pacer.delay("-100", True, now) == pytest.approx(expected)


def test_global_limit_below_thirty_does_not_wait() -> None:
    pacer = Pacer()
    for i in range(29):
        pacer.record(f"user{i}", False, 0.0)
    assert pacer.delay("another", False, 0.0) == 0


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(10.0, 5.0, id="at-pause"),
        pytest.param(14.0, 1.0, id="during-pause"),
        pytest.param(15.0, 0.0, id="pause-over"),
    ],
)
def test_pause_stops_every_chat(now: float, expected: float) -> None:
    pacer = Pacer()
    pacer.pause(5.0, 10.0)
    assert pacer.delay("1", False, now) == pytest.approx(expected)
    assert pacer.delay("-100", True, now) == pytest.approx(expected)


def test_shorter_pause_does_not_shorten_a_longer_one() -> None:
    pacer = Pacer()
    pacer.pause(30.0, 0.0)
    pacer.pause(1.0, 5.0)
    assert pacer.delay("1", False, 10.0) == pytest.approx(20.0)


def test_pause_combines_with_chat_spacing() -> None:
    pacer = Pacer()
    pacer.record("1", False, 0.0)
    pacer.pause(0.5, 0.0)
    assert pacer.delay("1", False, 0.0) == pytest.approx(CHAT_GAP)
    pacer.pause(3.0, 0.0)
    assert pacer.delay("1", False, 0.0) == pytest.approx(3.0)


def test_forget_drops_only_stale_chats() -> None:
    pacer = Pacer()
    pacer.record("old", False, 0.0)
    pacer.record("old-group", True, 0.0)
    pacer.record("recent", False, 95.0)
    pacer.record("recent-group", True, 50.0)
    pacer.forget(older_than=100.0)
    # Internal check: forgetting is about memory, so look at what is kept.
    assert set(pacer._last_sent) == {"recent", "recent-group"}
    assert set(pacer._group_sends) == {"recent-group"}
    # Decisions are unchanged for the chats still remembered.
    assert pacer.delay("recent", False, 95.5) == pytest.approx(CHAT_GAP - 0.5)
    assert pacer.delay("old", False, 100.0) == 0


def test_forget_keeps_a_group_still_inside_its_window() -> None:
    pacer = Pacer()
    times = send_group_burst(pacer, "-100", 20)
    now = times[-1] + CHAT_GAP
    pacer.forget(older_than=now)
    assert pacer.delay("-100", True, now) == pytest.approx(times[0] + GROUP_WINDOW - now)


# -- simulation -----------------------------------------------------------------------------


def max_in_window(times: list[float], window: float) -> int:
    """The most sends in any half-open interval [t, t + window)."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def simulate(
    queues: list[tuple[str, bool, int]], lateness: float = 0.0
) -> tuple[list[tuple[float, str, bool]], dict[str, float]]:
    """Send every queued message as early as the pacer allows, on a fake clock.

    ``queues`` are (chat, is_group, count); queues are served in order whenever their next
    message may go, and when none may the clock jumps to the earliest allowed time (plus
    ``lateness``: a real clock always wakes a little after the time asked for)."""
    pacer = Pacer()
    now = 0.0
    pending = deque((chat, group, count) for chat, group, count in queues if count)
    log: list[tuple[float, str, bool]] = []
    done: dict[str, float] = {}
    for _ in range(200_000):
        if not pending:
            break
        waits = []
        for index, (chat, group, count) in enumerate(pending):
            wait = pacer.delay(chat, group, now)
            if wait <= 0:
                pacer.record(chat, group, now)
                log.append((now, chat, group))
                if count == 1:
                    done[chat] = now
                    del pending[index]
                else:
                    pending[index] = (chat, group, count - 1)
                break
            waits.append(wait)
        else:
            now += min(waits) + lateness
    else:
        pytest.fail("the simulation did not finish")
    return log, done


def check_thousand_chats_and_a_busy_group(lateness: float) -> None:
    group_messages = 100
    queues = [("-100group", True, group_messages)]
    queues += [(f"user{i}", False, 1) for i in range(1000)]
    log, done = simulate(queues, lateness)

    times = [t for t, _, _ in log]
    group_times = [t for t, chat, _ in log if chat == "-100group"]
    assert len(log) == 1100
    assert times == sorted(times)
    # Telegram's limits, measured on exact windows: 30 per second overall, 20 per minute to
    # the group, a second between two messages to the same chat.
    assert max_in_window(times, 1.0) <= 30
    assert max_in_window(group_times, 60.0) <= 20
    assert min(b - a for a, b in itertools.pairwise(group_times)) >= 1.0

    # Close to the ideal: the private messages are bound by 30/s overall ...
    private_done = max(t for chat, t in done.items() if chat.startswith("user"))
    ideal = 1000 / 30
    assert ideal - 1 <= private_done <= ideal * 1.1
    # ... and the group by 20 per minute: the last batch of 20 starts after four minutes.
    batches = math.ceil(group_messages / 20) - 1
    group_ideal = batches * 60 + 19 * 1.0
    assert group_ideal <= done["-100group"] <= group_ideal * 1.02


def test_simulation_thousand_chats_and_a_busy_group() -> None:
    """The clock wakes 1 µs after the time asked for, as a real clock does."""
    check_thousand_chats_and_a_busy_group(lateness=1e-6)


def test_simulation_thousand_chats_and_a_busy_group_exact_clock() -> None:
    """The clock jumps exactly to now + delay."""
    check_thousand_chats_and_a_busy_group(lateness=0.0)


def test_global_limit_holds_at_the_exact_end_of_the_window() -> None:
    pacer = Pacer()
    for i in range(30):
        pacer.record(f"first{i}", False, 31.5)
    now = 31.5 + pacer.delay("next", False, 31.5)  # 32.55: the first 30 leave the window
    sent = 0
    while sent < 100 and pacer.delay(f"second{sent}", False, now) == 0:
        pacer.record(f"second{sent}", False, now)
        sent += 1
    assert sent == 30


def test_simulation_repeat_messages_to_few_chats() -> None:
    log, done = simulate([(f"user{i}", False, 40) for i in range(5)])
    assert len(log) == 200
    for i in range(5):
        sent = [t for t, chat, _ in log if chat == f"user{i}"]
        assert min(b - a for a, b in itertools.pairwise(sent)) >= 1.0
    # Bound by one message per second per chat: 40 messages take about 39 seconds.
    assert 39 <= max(done.values()) <= 39 * 1.06


# -- retry delay ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        pytest.param(0, 2.0, id="zero"),
        pytest.param(1, 2.0, id="first"),
        pytest.param(2, 4.0, id="second"),
        pytest.param(3, 8.0, id="third"),
        pytest.param(9, 512.0, id="ninth"),
        pytest.param(10, 600.0, id="tenth-capped"),
        pytest.param(100, 600.0, id="hundredth-capped"),
        pytest.param(1024, 600.0, id="largest-that-works"),
    ],
)
def test_retry_delay_doubles_up_to_the_cap(attempts: int, expected: float) -> None:
    assert retry_delay(attempts) == expected


def test_retry_delay_custom_base_and_cap() -> None:
    assert [retry_delay(n, base=1.0, cap=5.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("attempts", "jitter", "expected"),
    [
        pytest.param(1, 0.5, 3.0, id="jitter-on-base"),
        pytest.param(3, 0.25, 10.0, id="jitter-on-growth"),
        pytest.param(50, 0.5, 900.0, id="jitter-added-after-cap"),
    ],
)
def test_retry_delay_jitter(attempts: int, jitter: float, expected: float) -> None:
    assert retry_delay(attempts, jitter=jitter) == pytest.approx(expected)


def test_retry_delay_capped_for_any_attempt_count() -> None:
    assert retry_delay(1025) == 600.0
