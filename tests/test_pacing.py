"""Telegram flood-limit pacing (bot.core.pacing) on a fake clock."""

from __future__ import annotations

import itertools
import math
from collections import deque

import pytest

from bot.core.pacing import IN_FLIGHT_WAIT, Limits, Pacer, retry_delay

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


# -- sends reported at both ends (begin/end) --------------------------------------------------


def test_a_send_under_way_counts_against_the_global_limit() -> None:
    pacer = Pacer()
    for i in range(29):
        pacer.record(f"user{i}", False, 0.0)
    pacer.begin("user29", False, 0.0)
    assert pacer.in_flight == 1
    # 29 sends and one under way fill the window: the oldest send must leave it first.
    assert pacer.delay("another", False, 0.5) == pytest.approx(GLOBAL_WINDOW - 0.5)
    pacer.end("user29", False, 0.3)
    assert pacer.in_flight == 0
    assert pacer.delay("another", False, 0.5) == pytest.approx(GLOBAL_WINDOW - 0.5)


def test_sends_under_way_alone_fill_the_window() -> None:
    pacer = Pacer()
    for i in range(30):
        pacer.begin(f"user{i}", False, 0.0)
    # Every slot is taken by a send whose end is unknown: ask again shortly.
    assert pacer.delay("another", False, 0.5) == pytest.approx(IN_FLIGHT_WAIT)
    pacer.end("user0", False, 0.3)
    assert pacer.delay("another", False, 0.5) == pytest.approx(0.3 + GLOBAL_WINDOW - 0.5)


def test_a_finished_send_counts_from_its_end_not_its_beginning() -> None:
    pacer = Pacer()
    for i in range(30):
        pacer.begin(f"user{i}", False, 0.0)
    for i in range(30):
        pacer.end(f"user{i}", False, 0.2 + i * 0.01)
    # Telegram may have seen the first send as late as 0.2 s: the window runs from there.
    assert pacer.delay("another", False, 1.0) == pytest.approx(0.2 + GLOBAL_WINDOW - 1.0)
    # Per chat too: the gap runs from the end of the send.
    assert pacer.delay("user0", False, 1.0) == pytest.approx(0.2 + CHAT_GAP - 1.0)


def test_a_chat_with_a_send_under_way_waits() -> None:
    pacer = Pacer()
    pacer.begin("1", False, 0.0)
    assert pacer.delay("1", False, 5.0) == pytest.approx(CHAT_GAP)
    assert pacer.delay("2", False, 5.0) == 0
    pacer.end("1", False, 5.0)
    assert pacer.delay("1", False, 5.5) == pytest.approx(CHAT_GAP - 0.5)


def test_group_window_counts_sends_under_way() -> None:
    pacer = Pacer()
    times = send_group_burst(pacer, "-100", 19)
    now = times[-1] + CHAT_GAP
    pacer.begin("-100", True, now)
    # 19 recorded and one under way: the group's 20 per minute are taken.
    assert pacer._group_sends["-100"] is not None
    assert pacer.delay("-100", True, now + 2) >= CHAT_GAP
    pacer.end("-100", True, now + 0.1)
    wait = pacer.delay("-100", True, now + 2)
    assert wait == pytest.approx(times[0] + GROUP_WINDOW - (now + 2))


def test_forget_keeps_chats_with_a_send_under_way() -> None:
    pacer = Pacer()
    pacer.record("slow", False, 0.0)
    pacer.begin("slow", False, 1.0)
    pacer.forget(older_than=100.0)
    assert pacer.delay("slow", False, 100.0) == pytest.approx(CHAT_GAP)
    pacer.end("slow", False, 100.0)
    assert pacer.in_flight == 0


def test_end_without_begin_is_a_plain_record() -> None:
    pacer = Pacer()
    pacer.end("1", False, 3.0)
    assert pacer.in_flight == 0
    assert pacer.delay("1", False, 3.0) == pytest.approx(CHAT_GAP)


def simulate_with_latency(
    chats: int, seed: int, concurrency: int = 8
) -> tuple[list[float], dict[str, list[float]], float]:
    """A sender on a fake clock that reports both ends of every send; each request takes a
    random 5-100 ms and reaches Telegram at a random instant within that time. Returns the
    arrival times at Telegram, per chat, and when the last send ended."""
    import heapq
    import random

    rng = random.Random(seed)
    pacer = Pacer()
    queue = deque([f"user{i}" for i in range(chats)] + [f"user{i}" for i in range(chats // 4)])
    ends: list[tuple[float, str]] = []
    arrivals: list[float] = []
    per_chat: dict[str, list[float]] = {}
    busy: set[str] = set()
    now = 0.0
    for _ in range(1_000_000):
        if not queue and not ends:
            break
        waits = []
        for chat in list(queue):
            if len(ends) >= concurrency or chat in busy:
                continue
            wait = pacer.delay(chat, False, now)
            if wait > 0:
                waits.append(wait)
                continue
            queue.remove(chat)
            busy.add(chat)
            pacer.begin(chat, False, now)
            latency = rng.uniform(0.005, 0.1)
            arrival = now + rng.random() * latency
            arrivals.append(arrival)
            per_chat.setdefault(chat, []).append(arrival)
            heapq.heappush(ends, (now + latency, chat))
        next_times = [now + w for w in waits]
        if ends:
            next_times.append(ends[0][0])
        if not next_times:
            continue
        now = max(now, min(next_times))
        while ends and ends[0][0] <= now:
            at, chat = heapq.heappop(ends)
            pacer.end(chat, False, at)
            busy.discard(chat)
    else:
        pytest.fail("the simulation did not finish")
    return sorted(arrivals), per_chat, now


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_request_latency_never_breaks_a_limit_at_telegram(seed: int) -> None:
    arrivals, per_chat, finished = simulate_with_latency(400, seed)
    assert len(arrivals) == 500
    # Measured where Telegram measures them: at arrival, on exact windows.
    assert max_in_window(arrivals, 1.0) <= 30
    for times in per_chat.values():
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(sorted(times)))
    # ... and still close to the limit-bound time (500 / 30 s), latencies included.
    assert finished <= 500 / 30 * 1.15
