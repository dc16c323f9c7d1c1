"""The summary of people who blocked the bot (bot.core.notices)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.notices import NoticeBatch

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_wave_of_blocks_makes_one_summary_once_the_period_is_over() -> None:
    batch = NoticeBatch(every=timedelta(hours=1))
    assert batch.take(NOW) is None
    batch.add("2001", NOW)
    batch.add("2002", NOW + timedelta(minutes=10))
    batch.add("2001", NOW + timedelta(minutes=20))  # once per person
    assert batch.take(NOW + timedelta(minutes=59)) is None
    summary = batch.take(NOW + timedelta(hours=1))
    assert summary is not None
    assert summary.startswith("2 people blocked the bot in the last hour (2001, 2002)")
    assert batch.take(NOW + timedelta(hours=3)) is None, "told once"


def test_a_long_list_is_cut_and_one_person_is_one_person() -> None:
    batch = NoticeBatch(every=timedelta(minutes=30))
    for n in range(25):
        batch.add(str(3000 + n), NOW)
    summary = batch.take(NOW + timedelta(minutes=30)) or ""
    assert "25 people" in summary and "last 30 minutes" in summary and "and 15 more" in summary
    batch.add("9", NOW)
    assert (batch.take(NOW + timedelta(hours=1)) or "").startswith("1 person blocked")


def test_a_stopping_bot_tells_what_it_gathered_early() -> None:
    batch = NoticeBatch(every=timedelta(hours=1))
    assert batch.take(NOW, early=True) is None, "nothing gathered, nothing said"
    batch.add("2001", NOW)
    summary = batch.take(NOW + timedelta(minutes=5), early=True)
    assert summary is not None and "2001" in summary
    assert batch.chats == [] and batch.since is None
