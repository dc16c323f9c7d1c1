"""Story clustering (bot/core/clustering.py): the cheap exact signals, the model's decisions on
plain cases, the window, restoring after a restart, and the explanations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.clustering import (
    Clusterer,
    Item,
    WordStats,
    canonical_url,
    cluster_all,
    content_words,
)
from bot.wordstats import headline_stems

T0 = datetime(2026, 6, 16, 8, 0, tzinfo=UTC)


def item(n: int, title: str, minutes: float = 0, link: str | None = None) -> Item:
    return Item(
        f"i{n}",
        title,
        T0 + timedelta(minutes=minutes),
        link=link or f"https://outlet{n}.example/{n}",
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "https://www.bbc.com/news/world-1?at_medium=RSS&at_campaign=rss",
            "http://bbc.com/news/world-1",
        ),
        ("https://m.example.com/a/b/?utm_source=x&id=3", "https://example.com/a/b?id=3"),
        ("https://amp.example.com/story/amp", "https://example.com/story#top"),
        (
            "https://www.aljazeera.com/news/2026/6/16/x?traffic_source=rss",
            "https://aljazeera.com/news/2026/6/16/x/",
        ),
    ],
)
def test_copies_of_one_article_share_a_canonical_url(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


def test_different_articles_keep_different_canonical_urls() -> None:
    assert canonical_url("https://example.com/a?id=3") != canonical_url(
        "https://example.com/a?id=4"
    )
    assert canonical_url("https://example.com/a") != canonical_url("https://example.org/a")
    assert canonical_url(None) is None


def test_content_words_drop_stop_words_and_fold() -> None:
    assert content_words("The UCAV and the Bayraktar TB2 over Şuşa") == (
        "ucav",
        "bayraktar",
        "tb2",
        "susa",
    )


def test_the_same_url_joins_whatever_the_title() -> None:
    decisions = cluster_all(
        [
            item(1, "Drone strike on refinery", link="https://www.x.com/a?utm_source=rss"),
            item(2, "Completely different words", link="https://x.com/a"),
        ]
    )
    assert decisions[1].story == "i1"
    assert "same article URL" in decisions[1].reason


def test_a_reprint_with_small_edits_joins_as_a_near_duplicate() -> None:
    decisions = cluster_all(
        [
            item(1, "Russian artist critical of Kremlin shot dead in eastern Poland"),
            item(2, "Russian artist critical of Kremlin shot dead in eastern Poland - Reuters", 30),
        ]
    )
    assert decisions[1].story == "i1"
    assert "near-duplicate" in decisions[1].reason


def test_one_story_told_in_other_words_joins_and_a_different_one_stays_apart() -> None:
    decisions = cluster_all(
        [
            item(1, "Moscow oil refinery damaged in Ukrainian drone attack, mayor says"),
            item(2, "Quiet day at the G7 summit in France as leaders arrive", 5),
            item(3, "Ukrainian drone attack damages Moscow oil refinery", 20),
            item(4, "Oil prices fall to three-month low ahead of US-Iran agreement", 25),
        ]
    )
    stories = [d.story for d in decisions]
    assert stories == ["i1", "i2", "i1", "i4"]
    assert decisions[2].joined == "i1" and decisions[2].reason.startswith("similar")
    assert decisions[3].reason.startswith("new story")


def test_same_topic_different_events_stay_apart() -> None:
    decisions = cluster_all(
        [
            item(1, "Russian missile strike on Kyiv kills five"),
            item(2, "Ukraine hits Moscow region refinery with drones", 10),
            item(3, "EU agrees new sanctions package against Russia", 20),
        ]
    )
    assert [d.story for d in decisions] == ["i1", "i2", "i3"]


def test_same_pattern_headlines_of_different_events_stay_apart_with_the_shipped_statistics() -> (
    None
):
    """Shared words ("Israeli strike ... kills") are weaker evidence than the threshold asks:
    a threshold near zero would merge these; and headlines giving other numbers never merge."""
    clusterer = Clusterer(background=headline_stems())
    first = clusterer.add(item(1, "Israeli strike on Gaza school kills dozens"))
    second = clusterer.add(item(2, "Israeli strike on Lebanon village kills several", 10))
    assert (first.story, second.story) == ("i1", "i2")
    assert 0.1 < second.score < 0.45, second.reason
    numbered = Clusterer(background=headline_stems())
    numbered.add(item(1, "Israeli strike on Gaza school kills 12"))
    third = numbered.add(item(2, "Israeli strike on Gaza school kills 3", 10))
    assert third.story == "i2", third.reason
    assert third.reason == "new story: i1 gives other numbers (12)"
    # Numbers spelled out count too; the same number either way is no conflict.
    spelled = Clusterer(background=headline_stems())
    spelled.add(item(1, "Russian missile strike on Kyiv kills five"))
    assert spelled.add(item(2, "Russian missile strike on Odesa kills two", 10)).story == "i2"
    assert spelled.add(item(3, "Russian missile strike on Kyiv kills 5", 20)).story == "i1"


def test_items_older_than_the_window_are_forgotten() -> None:
    clusterer = Clusterer(window=timedelta(hours=48))
    clusterer.add(item(1, "Moscow oil refinery damaged in Ukrainian drone attack"))
    late = clusterer.add(item(2, "Moscow oil refinery damaged in Ukrainian drone attack", 49 * 60))
    assert late.story == "i2"  # the first is out of the window: a new story
    assert len(clusterer) == 1


def test_restore_rebuilds_the_window_as_it_was() -> None:
    first = Clusterer()
    a = item(1, "Moscow oil refinery damaged in Ukrainian drone attack, mayor says")
    b = item(2, "Ukrainian drone attack damages Moscow oil refinery", 20)
    story = first.add(a).story
    again = Clusterer()
    again.restore(a, story)
    assert again.add(b).story == first.add(b).story == "i1"


def test_background_statistics_make_common_words_weak_evidence() -> None:
    common = WordStats(documents=10_000, counts={"iran": 5000, "says": 6000, "deal": 3000})
    items = [
        item(1, "Iran says deal near"),
        item(2, "Iran says deal will hold", 10),
    ]
    with_bg = Clusterer(background=common)
    assert [with_bg.add(i).story for i in items] == ["i1", "i2"]
