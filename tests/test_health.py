"""Feed health as admins read it: the CLI's table and the phone-sized cards of /feeds."""

from __future__ import annotations

from bot.core.health import FeedHealth, health_cards, health_table

ROWS = [
    FeedHealth("zeta", "ok", "5m ago", 0, "in 3m", ""),
    FeedHealth("alpha", "ok", "1m ago", 0, "in 9m", "moved to https://example.invalid/new"),
    FeedHealth("broken", "failing", "2h ago", 3, "in 20m", "HTTP 500: " + "x" * 300),
    FeedHealth("gone", "disabled", "3d ago", 9, "-", "HTTP 410 Gone"),
    FeedHealth("fresh", "new", "never", 0, "in 1s", "https://example.invalid/feed"),
]


def test_cards_put_trouble_first_and_stay_narrow() -> None:
    cards = health_cards(ROWS)
    heads = [card.splitlines()[0] for card in cards]
    assert heads == [
        "⚠️ broken: failing",
        "⛔ gone: disabled",
        "🆕 fresh: new",
        "✅ alpha: ok",
        "✅ zeta: ok",
    ]
    broken = cards[0].splitlines()
    assert broken[1] == "   last success 2h ago · 3 failures in a row · next poll in 20m"
    assert broken[2].endswith("…") and len(broken[2]) <= 3 + 120
    assert "next poll" not in cards[1], "a disabled feed is not polled"
    assert cards[3].splitlines()[2] == "   moved to https://example.invalid/new"
    assert cards[4].splitlines() == ["✅ zeta: ok", "   last success 5m ago · next poll in 3m"]


def test_the_cli_table_keeps_its_columns() -> None:
    header, *lines = health_table(ROWS)
    columns = ["feed", "status", "last", "success", "fails", "next", "poll", "details"]
    assert header.split() == columns
    assert len(lines) == len(ROWS) and lines[0].startswith("zeta ")
