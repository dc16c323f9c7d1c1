"""Parsing real feeds (tests/data, permissively licensed copies of public feeds) and feedparser's
own ill-formed, encoding and sanitizer cases: every file yields clean stories or a ParseError,
and no markup from a feed can reach a Telegram message as markup."""

from __future__ import annotations

import csv
import re
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import ParseError
from bot.core.models import Story
from bot.core.render import render_html
from bot.feeds import parse as parse_module
from bot.feeds.parse import parse_feed
from tests.builders import alert as build_alert
from tests.fakes.telegram_html import parse_telegram_html_entities, telegram_length

DATA = Path(__file__).parent / "data"
FEEDS = sorted((DATA / "feeds").glob("*"))
FEEDS = [p for p in FEEDS if p.name != "MANIFEST.tsv"]
FEEDPARSER_CASES = sorted((DATA / "feedparser" / "tests").rglob("*.xml"))
MANIFEST = {
    row["local_name"]: row
    for row in csv.DictReader(
        (DATA / "feeds" / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"
    )
}
_DANGEROUS = re.compile(r"<\s*(script|iframe|object|embed|img|svg)|javascript:|on\w+\s*=", re.I)


def _check_stories(path: Path) -> int:
    try:
        parsed = parse_feed("f", path.read_bytes(), "https://example.invalid/feed.xml")
    except ParseError as exc:
        assert exc.feed == "f"  # noqa: PT017 - a ParseError is an accepted outcome here
        return 0
    keys = set()
    for story in parsed.stories:
        assert re.fullmatch(r"[0-9a-f]{40}", story.key)
        assert story.key not in keys, "stories are unique within a feed"
        keys.add(story.key)
        assert isinstance(story.title, str)
        assert story.published is None or story.published.tzinfo == UTC
        assert story.link is None or story.link.startswith(("http://", "https://"))
        for text in (story.title, story.summary, story.content):
            assert "\x00" not in text
    return len(parsed.stories)


@pytest.mark.parametrize("path", FEEDS, ids=[p.name[:60] for p in FEEDS])
def test_real_feeds_parse_into_clean_stories(path: Path) -> None:
    count = _check_stories(path)
    expected = MANIFEST.get(path.name, {}).get("entries")
    if expected is not None and expected.isdigit():
        # Entries repeating an identity are kept once; entries with no text at all are skipped.
        assert count <= int(expected)


def test_nearly_every_entry_of_the_real_feeds_becomes_a_story() -> None:
    expected = sum(int(MANIFEST[p.name]["entries"]) for p in FEEDS if p.name in MANIFEST)
    found = sum(_check_stories(p) for p in FEEDS)
    assert expected > 500
    assert found >= 0.97 * expected, (found, expected)


def test_real_feed_details() -> None:
    parsed = parse_feed(
        "guardian",
        (DATA / "feeds" / "rbren__rss-parser__test_input_guardian.rss").read_bytes(),
        "https://www.theguardian.com/uk/rss",
    )
    assert len(parsed.stories) == 55
    assert parsed.title and "Guardian" in parsed.title
    first = parsed.stories[0]
    assert first.title and first.link and first.link.startswith("https://www.theguardian.com/")
    assert first.published is not None
    assert "<" not in first.summary, "HTML is reduced to text"


def test_relative_links_are_resolved_against_the_feed_url() -> None:
    path = next(p for p in FEEDS if "relative" in p.name)
    parsed = parse_feed("rel", path.read_bytes(), "https://example.org/blog/feed.xml")
    assert parsed.stories
    assert all(s.link is None or s.link.startswith("https://") for s in parsed.stories)


@pytest.mark.parametrize(
    "path",
    FEEDPARSER_CASES,
    ids=[str(p.relative_to(DATA / "feedparser")) for p in FEEDPARSER_CASES],
)
def test_feedparser_cases_never_leak_markup_into_alerts(path: Path) -> None:
    try:
        parsed = parse_feed("case", path.read_bytes(), "https://example.invalid/feed")
    except ParseError:
        return
    for story in parsed.stories:
        alert = build_alert(1, "1", "r", "Rule <b>", "Feed & co", story, ("term",))
        html = render_html(alert)
        parsed_html = parse_telegram_html_entities(html)  # raises if Telegram would reject it
        assert telegram_length(parsed_html.text) <= 4096
        # Whatever a story contains, the only markup is the alert's own: no link but the
        # story's own http(s) link, no tag from the feed.
        for entity in parsed_html.entities:
            if entity["type"] == "text_link":
                assert entity["url"].lower().startswith(("http://", "https://"))
        assert not _DANGEROUS.search(html.replace("&lt;", "").replace("&gt;", ""))


LONE_SURROGATE_FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Good one</title><link>https://a.invalid/1</link><guid>1</guid></item>
<item><title>Bad &#55357; item &#x110000; &#0;</title><link>https://a.invalid/2</link>
<guid>2</guid><description>pair &#55357;&#56832; kept &#8217;</description></item>
<item><title>Good two</title><link>https://a.invalid/3</link><guid>3</guid></item>
</channel></rss>"""


def test_a_lone_surrogate_reference_spoils_one_item_not_the_feed() -> None:
    parsed = parse_feed("f", LONE_SURROGATE_FEED, "https://a.invalid/feed")
    assert [s.title for s in parsed.stories] == [
        "Good one",
        "Bad \ufffd item \ufffd \ufffd",
        "Good two",
    ]
    assert parsed.stories[1].summary == "pair 😀 kept ’"  # a pair written as two references
    for story in parsed.stories:
        story.title.encode("utf-8")  # every text can be stored and sent


def test_an_item_that_cannot_be_read_is_skipped_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = parse_module._story

    def fragile(feed: str, entry: Any, base: str, language: str | None) -> Story | None:
        if entry.get("title") == "Good two":
            raise ValueError("unreadable")
        return real(feed, entry, base, language)

    monkeypatch.setattr(parse_module, "_story", fragile)
    parsed = parse_feed("f", LONE_SURROGATE_FEED, "https://a.invalid/feed")
    assert [s.title for s in parsed.stories] == ["Good one", "Bad \ufffd item \ufffd \ufffd"]
    assert parsed.skipped == 1
