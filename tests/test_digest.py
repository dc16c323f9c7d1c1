"""When held alerts are released (digests, quiet hours, time zones, daylight saving), and how a
digest reads: grouped by rule, split cleanly, always valid Telegram HTML within its limit."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.digest import (
    ALL_RULES,
    MAX_PART,
    ChatPrefs,
    Digest,
    QuietHours,
    next_digest_time,
    parse_clock,
    parse_quiet,
    release_time,
    render_digest,
)
from bot.core.models import Alert, Story
from bot.core.render import utf16_len
from tests.builders import alert as build_alert
from tests.fakes.telegram_html import parse_telegram_html

IST = ZoneInfo("Europe/Istanbul")  # UTC+3 all year
BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+5:30


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def prefs(tz: ZoneInfo | None = None, quiet: str | None = None, **digests: Digest) -> ChatPrefs:
    return ChatPrefs(
        tz=tz or UTC,
        tz_name=str(tz) if tz else "UTC",
        quiet=parse_quiet(quiet) if quiet else None,
        digests={ALL_RULES if k == "all" else k: v for k, v in digests.items()},
    )


# -- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("07:30", time(7, 30)), ("0:05", time(0, 5)), (" 23:59 ", time(23, 59))]
)
def test_clock_times_are_read(text: str, expected: time) -> None:
    assert parse_clock(text) == expected


@pytest.mark.parametrize("text", ["7", "24:00", "12:60", "12:5", "noon", "-1:00", "12:30pm"])
def test_bad_clock_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="time"):
        parse_clock(text)


def test_quiet_windows_are_read_with_any_dash() -> None:
    assert parse_quiet("23:00-07:00") == QuietHours(time(23), time(7))
    assert parse_quiet("22:30–06:15") == QuietHours(time(22, 30), time(6, 15))
    with pytest.raises(ValueError, match="same time"):
        parse_quiet("07:00-07:00")
    with pytest.raises(ValueError, match="window"):
        parse_quiet("23:00")


@pytest.mark.parametrize(
    ("window", "inside", "outside"),
    [
        ("23:00-07:00", ["23:00", "23:59", "00:00", "06:59"], ["07:00", "12:00", "22:59"]),
        ("01:00-05:00", ["01:00", "04:59"], ["00:59", "05:00", "23:30"]),
    ],
)
def test_quiet_hours_contain_their_window_only(
    window: str, inside: list[str], outside: list[str]
) -> None:
    quiet = parse_quiet(window)
    assert all(quiet.contains(parse_clock(t)) for t in inside)
    assert not any(quiet.contains(parse_clock(t)) for t in outside)


# -- release times ------------------------------------------------------------------------


def test_without_preferences_alerts_go_at_once() -> None:
    assert release_time(utc(2026, 11, 24, 3), ChatPrefs(), "drones") is None


def test_quiet_hours_hold_alerts_until_they_end_in_the_chats_time_zone() -> None:
    chat = prefs(IST, "23:00-07:00")
    # 00:30 in Istanbul: held until 07:00 there, 04:00 UTC.
    assert release_time(utc(2026, 11, 24, 21, 30), chat, "drones") == utc(2026, 11, 25, 4)
    # 06:59 local: one minute to go.
    assert release_time(utc(2026, 11, 25, 3, 59), chat, "drones") == utc(2026, 11, 25, 4)
    # 07:00 local and later: out of the window.
    assert release_time(utc(2026, 11, 25, 4), chat, "drones") is None
    assert release_time(utc(2026, 11, 25, 19, 59), chat, "drones") is None


def test_urgent_rules_ignore_quiet_hours_but_keep_a_chosen_digest() -> None:
    night = utc(2026, 11, 24, 22)  # 01:00 in Istanbul
    assert release_time(night, prefs(IST, "23:00-07:00"), "r", urgent=True) is None
    daily = prefs(IST, "23:00-07:00", all=Digest("daily", time(9)))
    assert release_time(night, daily, "r", urgent=True) == utc(2026, 11, 25, 6)


def test_daily_digest_is_released_at_the_next_local_time() -> None:
    chat = prefs(IST, all=Digest("daily", time(8)))
    # 13:00 local: tomorrow 08:00 local = 05:00 UTC.
    assert release_time(utc(2026, 11, 24, 10), chat, "x") == utc(2026, 11, 25, 5)
    # 07:00 local: today 08:00.
    assert release_time(utc(2026, 11, 24, 4), chat, "x") == utc(2026, 11, 24, 5)
    # Exactly at 08:00 local the digest is going out: the next one takes it.
    assert release_time(utc(2026, 11, 24, 5), chat, "x") == utc(2026, 11, 25, 5)
    # Without a time, daily means 08:00.
    assert release_time(utc(2026, 11, 24, 10), prefs(IST, all=Digest("daily")), "x") == utc(
        2026, 11, 25, 5
    )


def test_hourly_digest_follows_the_local_hour_even_at_half_hour_offsets() -> None:
    chat = prefs(KOLKATA, all=Digest("hourly"))
    # 10:20 UTC is 15:50 in Kolkata: the next local hour, 16:00, is 10:30 UTC.
    assert release_time(utc(2026, 11, 24, 10, 20), chat, "x") == utc(2026, 11, 24, 10, 30)


def test_a_rules_own_digest_wins_over_all_and_off_overrides_it() -> None:
    chat = prefs(all=Digest("daily", time(8)), drones=Digest("hourly"), karabakh=Digest("off"))
    now = utc(2026, 11, 24, 10, 20)
    assert release_time(now, chat, "drones") == utc(2026, 11, 24, 11)
    assert release_time(now, chat, "other") == utc(2026, 11, 25, 8)
    assert release_time(now, chat, "karabakh") is None


def test_a_digest_due_inside_quiet_hours_waits_for_their_end() -> None:
    chat = prefs(IST, "06:00-09:00", all=Digest("daily", time(8)))
    # Daily at 08:00 local falls in quiet hours: released at 09:00 local (06:00 UTC).
    assert release_time(utc(2026, 11, 24, 10), chat, "x") == utc(2026, 11, 25, 6)


def test_daylight_saving_changes_keep_local_times() -> None:
    daily = Digest("daily", time(8))
    # Berlin: CET (UTC+1) until 29 March 2026, CEST (UTC+2) after.
    assert next_digest_time(utc(2026, 3, 28, 12), daily, BERLIN) == utc(2026, 3, 29, 6)
    assert next_digest_time(utc(2026, 10, 24, 12), daily, BERLIN) == utc(2026, 10, 25, 7)
    # 02:30 does not exist on 29 March in Berlin: released once, after the jump, that day.
    skipped = next_digest_time(utc(2026, 3, 28, 12), Digest("daily", time(2, 30)), BERLIN)
    assert skipped is not None
    assert utc(2026, 3, 29, 0) < skipped <= utc(2026, 3, 29, 2)
    # Quiet hours ending 02:30 on the night 02:00-03:00 repeats: the first 02:30 (UTC+2).
    quiet = prefs(BERLIN, "23:00-02:30")
    assert release_time(utc(2026, 10, 24, 22), quiet, "x") == utc(2026, 10, 25, 0, 30)


def test_release_is_always_in_the_future_over_a_year_of_minutes() -> None:
    chat = prefs(BERLIN, "22:15-06:45", all=Digest("daily", time(2, 30)))
    start = utc(2026, 1, 1)
    for step in range(0, 366 * 24 * 60, 97):  # every 97 minutes through a whole year
        now = start + timedelta(minutes=step)
        release = release_time(now, chat, "x")
        assert release is not None
        assert now < release <= now + timedelta(days=2)
        # The 02:30 digest always falls in the quiet hours, so it goes out when they end.
        assert release.astimezone(BERLIN).time() == time(6, 45)


# -- rendering ----------------------------------------------------------------------------


def alert(n: int, rule: str, title: str = "", link: str | None = "default") -> Alert:
    return build_alert(
        delivery_id=n,
        chat="1001",
        rule_id=rule,
        rule_title=f"Rule <{rule}> & co",
        feed_title="Feed & Friends",
        story=Story(
            feed="f",
            key=f"k{n}",
            title=title or f"Story {n}",
            link=f"https://example.invalid/{n}?a=1&b=2" if link == "default" else link,
            published=utc(2026, 11, 24, 5, n % 60),
        ),
        matched_terms=("x",),
    )


def test_a_digest_groups_stories_by_rule_in_order() -> None:
    alerts = [alert(1, "a"), alert(2, "b"), alert(3, "a")]
    (part,) = render_digest(alerts, "Digest", IST, "Europe/Istanbul")
    text = parse_telegram_html(part.html)
    assert text.splitlines()[0] == "📰 Digest: 3 stories, times in Europe/Istanbul"
    assert text.index("Rule <a> & co (2)") < text.index("Story 1") < text.index("Story 3")
    assert text.index("Story 3") < text.index("Rule <b> & co (1)") < text.index("Story 2")
    assert "2026-11-24 08:01" in text  # published time in the chat's zone
    assert part.delivery_ids == (1, 3, 2)
    assert '<a href="https://example.invalid/1?a=1&amp;b=2">Story 1</a>' in part.html


def test_long_digests_split_cleanly_and_carry_every_story_once() -> None:
    hostile = "<b>Bayraktar</b> & TB2 🚁 — «מבצע» بيرقدار " * 6
    alerts = [alert(n, "r" + str(n % 3), f"{n}: {hostile}") for n in range(1, 121)]
    parts = render_digest(alerts, "Digest", IST, "Europe/Istanbul", max_items=1000)
    assert len(parts) > 3
    seen: list[int] = []
    for index, part in enumerate(parts, start=1):
        text = parse_telegram_html(part.html)  # valid Telegram HTML, or this raises
        assert utf16_len(text) <= 4096
        assert utf16_len(part.plain) <= MAX_PART + 100
        assert f"({index}/{len(parts)})" in text.splitlines()[0]
        body = text.splitlines()[1:]
        # A part never starts with a story line: its rule's name comes first.
        assert next(line for line in body if line.strip()).startswith("🔎")
        seen.extend(part.delivery_ids)
        assert "<b>Bayraktar</b>" in text  # the title's markup shown as text, never parsed
    assert sorted(seen) == list(range(1, 121))
    assert len(seen) == len(set(seen))


def test_a_split_repeats_the_rule_name_as_continued() -> None:
    alerts = [alert(n, "a", "x" * 150) for n in range(1, 40)]
    parts = render_digest(alerts, "Digest", UTC, limit=1200)
    assert len(parts) > 2
    assert "(continued)" in parse_telegram_html(parts[1].html).splitlines()[1]


def test_an_overlong_link_is_left_out_of_the_plain_form_only() -> None:
    long = "https://example.invalid/" + "p" * 3000
    (part,) = render_digest([alert(1, "a", link=long)], "Digest", UTC)
    assert long in part.html
    assert long not in part.plain
    assert utf16_len(parse_telegram_html(part.html)) < 400


def test_a_huge_digest_is_one_message_counting_what_it_does_not_list() -> None:
    alerts = [alert(n, "burst", f"Story {n}") for n in range(1, 10_001)]
    (part,) = render_digest(alerts, "Digest", UTC, "UTC", max_items=20)
    text = parse_telegram_html(part.html)
    assert text.splitlines()[0] == "📰 Digest: 10,000 stories, times in UTC"
    assert "Story 20" in text and "Story 21 " not in text + " "
    assert text.endswith("… and 9,980 more stories")
    assert part.delivery_ids == tuple(range(1, 10_001)), "all of them go out with this message"
    assert utf16_len(text) <= 4096
