"""Alert rendering (bot.core.render): valid Telegram HTML, escaped text, safe links, the 4096 limit.

Every HTML message is checked with the strict Telegram HTML validator of tests/fakes, and lengths
are measured the way Telegram measures them: UTF-16 code units of the text after entity parsing.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.models import URGENT, Alert, Story
from bot.core.render import (
    MAX_MESSAGE,
    MAX_TITLE,
    SNIPPET,
    highlight,
    render_html,
    render_plain,
    shorten,
    utf16_len,
)
from tests.builders import alert as build_alert
from tests.fakes.telegram_html import (
    parse_telegram_html,
    parse_telegram_html_entities,
    telegram_length,
)

WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
LINK = "https://news.example/a?b=1&c=2"

_STORY_FIELDS = {"title", "link", "summary", "content", "published", "authors", "tags"}


def make_alert(**kw: Any) -> Alert:
    story_kw: dict[str, Any] = {"title": "Talks resume", "link": LINK, "summary": "Officials met."}
    story_kw["published"] = WHEN
    alert_kw: dict[str, Any] = {
        "delivery_id": 1,
        "chat": "1001",
        "rule_id": "karabakh",
        "rule_title": "Karabakh",
        "feed_title": "Example News",
        "matched_terms": ("Karabakh",),
    }
    for key, value in kw.items():
        (story_kw if key in _STORY_FIELDS else alert_kw)[key] = value
    return build_alert(story=Story(feed="example", key="k1", **story_kw), **alert_kw)


def visible(message: str) -> str:
    """The text Telegram shows for an HTML message; fails the test if Telegram would reject it."""
    return parse_telegram_html(message)


def links(message: str) -> list[str]:
    entities = parse_telegram_html_entities(message).entities
    return [e["url"] for e in entities if e["type"] == "text_link"]


LONG_EMOJI_SUMMARY = ("Karabakh 😀 talks 🇦🇿 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 " * 400)[:10_000]

TEXT_CASES = [
    pytest.param({}, id="plain"),
    pytest.param({"title": "1 < 2 & 3 > 2"}, id="title-lt-amp-gt"),
    pytest.param({"title": "<script>alert('x')</script>"}, id="title-script-tag"),
    pytest.param({"title": "He said \"no\" & 'yes'"}, id="title-quotes"),
    pytest.param({"title": "&amp; &lt;b&gt; &#x27;"}, id="title-entity-lookalikes"),
    pytest.param({"summary": "<b>not bold</b> </i> <a href='x'>"}, id="summary-tags"),
    pytest.param({"summary": "a & b; c &lt; d; e &#; f &#x;"}, id="summary-broken-entities"),
    pytest.param({"title": "Drones 🚀🇦🇿 strike 👨‍👩‍👧"}, id="title-emoji"),
    pytest.param({"title": "قره‌باغ: مذاکرات ادامه دارد", "summary": "שלום עולם!"}, id="rtl"),
    pytest.param({"title": "\u202eevil\u202c override"}, id="bidi-override"),
    pytest.param({"summary": LONG_EMOJI_SUMMARY}, id="summary-10k-astral"),
    pytest.param({"summary": "x" * 10_000}, id="summary-10k-one-word"),
    pytest.param({"summary": "", "content": "<p>" * 3000}, id="content-fallback-markup"),
    pytest.param({"title": "😀" * 3000}, id="title-3000-astral"),
    pytest.param({"title": "T" * 5000, "summary": "S " * 5000}, id="long-title-and-summary"),
    pytest.param({"title": ""}, id="untitled"),
    pytest.param({"title": "   \n\t "}, id="blank-title"),
    pytest.param({"link": None}, id="no-link"),
    pytest.param({"published": None}, id="no-date"),
    pytest.param({"matched_terms": ()}, id="no-terms"),
    pytest.param({"matched_terms": ("<b>", "A&B", "KARABAĞ")}, id="terms-need-escaping"),
    pytest.param(
        {"rule_title": "<Rule & co>", "feed_title": 'Feed "quoted" <x>'}, id="titles-escaped"
    ),
]


@pytest.mark.parametrize("kw", TEXT_CASES)
def test_html_is_valid_and_within_the_limit(kw: dict[str, Any]) -> None:
    message = render_html(make_alert(**kw))
    shown = visible(message)
    assert telegram_length(shown) <= MAX_MESSAGE
    assert "<script" not in message


@pytest.mark.parametrize("kw", TEXT_CASES)
def test_plain_is_within_the_limit(kw: dict[str, Any]) -> None:
    text = render_plain(make_alert(**kw))
    assert telegram_length(text) <= MAX_MESSAGE


@pytest.mark.parametrize(
    "title",
    [
        pytest.param("1 < 2 & 3 > 2", id="operators"),
        pytest.param("<script>alert('x')</script>", id="script"),
        pytest.param("He said \"no\" & 'yes'", id="quotes"),
        pytest.param("&amp; is not decoded", id="entity-lookalike"),
        pytest.param("Drones 🚀🇦🇿 strike", id="emoji"),
        pytest.param("قره‌باغ: مذاکرات", id="arabic-script"),
        pytest.param("שלום עולם", id="hebrew"),
    ],
)
def test_title_is_shown_exactly_as_written(title: str) -> None:
    alert = make_alert(title=title, rule_title="R & <D>", matched_terms=("a<b", "c&d"))
    shown = visible(render_html(alert))
    assert shown.splitlines()[0] == title
    assert shown.splitlines()[-1] == "🔎 R & <D>: a<b, c&d"
    assert render_plain(alert).splitlines()[0] == title


def test_html_layout() -> None:
    message = render_html(make_alert())
    assert message == (
        '<b><a href="https://news.example/a?b=1&amp;c=2">Talks resume</a></b>\n'
        "Officials met.\n"
        "<i>Example News · 2024-05-01 12:30 UTC</i>\n"
        "🔎 Karabakh: <b>Karabakh</b>"
    )


def test_plain_layout() -> None:
    assert render_plain(make_alert()) == (
        "Talks resume\n"
        "Officials met.\n"
        "https://news.example/a?b=1&c=2\n"
        "Example News · 2024-05-01 12:30 UTC\n"
        "🔎 Karabakh: Karabakh"
    )


def test_an_urgent_alert_is_marked_before_its_title() -> None:
    urgent = make_alert(priority=URGENT)
    assert render_html(urgent).startswith('<b><a href="https://news.example/a?b=1&amp;c=2">🚨 ')
    assert render_plain(urgent).splitlines()[0] == "🚨 Talks resume"
    assert not render_plain(make_alert(priority=URGENT - 1)).startswith("🚨")


def test_untitled_story_and_content_fallback() -> None:
    alert = make_alert(title="", summary="", content="From the content", published=None)
    shown = visible(render_html(alert)).splitlines()
    assert shown == ["(untitled)", "From the content", "Example News", "🔎 Karabakh: Karabakh"]


def test_long_summary_is_cut_to_the_snippet_length() -> None:
    shown = visible(render_html(make_alert(summary=LONG_EMOJI_SUMMARY))).splitlines()
    snippet = shown[1]
    assert snippet.endswith("…")
    assert utf16_len(snippet) <= SNIPPET
    assert " ".join(LONG_EMOJI_SUMMARY.split()).startswith(snippet[:-1])


def test_long_title_is_cut() -> None:
    shown = visible(render_html(make_alert(title="word " * 1000))).splitlines()
    assert utf16_len(shown[0]) <= MAX_TITLE
    assert shown[0].endswith("word…")


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"feed_title": "F" * 5000}, id="long-feed-title"),
        pytest.param({"rule_title": "R" * 5000}, id="long-rule-title"),
        pytest.param({"matched_terms": tuple(f"term{i}" for i in range(1500))}, id="many-terms"),
    ],
)
def test_html_within_limit_whatever_the_labels(kw: dict[str, Any]) -> None:
    shown = visible(render_html(make_alert(**kw)))
    assert telegram_length(shown) <= MAX_MESSAGE


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"feed_title": "F" * 5000}, id="long-feed-title"),
        pytest.param({"rule_title": "R" * 5000}, id="long-rule-title"),
        pytest.param({"matched_terms": tuple(f"term{i}" for i in range(1500))}, id="many-terms"),
    ],
)
def test_plain_within_limit_whatever_the_labels(kw: dict[str, Any]) -> None:
    assert telegram_length(render_plain(make_alert(**kw))) <= MAX_MESSAGE


# -- links ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("JavaScript:alert(1)", id="javascript-mixed-case"),
        pytest.param(" javascript:alert(1)", id="javascript-leading-space"),
        pytest.param("java\tscript:alert(1)", id="javascript-with-tab"),
        pytest.param("data:text/html,<script>alert(1)</script>", id="data-uri"),
        pytest.param("vbscript:msgbox(1)", id="vbscript"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("//evil.example/x", id="protocol-relative"),
        pytest.param("/relative/path", id="relative"),
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
    ],
)
def test_unsafe_links_are_never_linked(link: str | None) -> None:
    alert = make_alert(link=link)
    message = render_html(alert)
    assert "<a" not in message
    assert links(message) == []
    assert "script" not in render_plain(alert).lower()


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("https://news.example/a?b=1&c=2", id="ampersand"),
        pytest.param('https://news.example/"><script>alert(1)</script>', id="quote-breakout"),
        pytest.param("https://news.example/it's", id="apostrophe"),
        pytest.param("http://news.example/<b>", id="angle-brackets"),
        pytest.param("HTTPS://NEWS.EXAMPLE/X", id="upper-case-scheme"),
        pytest.param("https://news.example/%22%3E?q=a+b#frag", id="percent-encoded"),
        pytest.param("https://пример.рф/новости", id="idn"),
    ],
)
def test_safe_links_are_escaped_inside_href(link: str) -> None:
    message = render_html(make_alert(link=link))
    assert links(message) == [link]
    # Nothing of the link leaks out of the attribute: the visible text has no link in it.
    assert link not in visible(message)
    assert "<script" not in message
    assert link in render_plain(make_alert(link=link)).splitlines()


# -- utf16_len and shorten ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("abc", 3, id="ascii"),
        pytest.param("çağ", 3, id="latin-accents"),
        pytest.param("Карабах", 7, id="cyrillic"),
        pytest.param("€", 1, id="bmp-symbol"),
        pytest.param("😀", 2, id="astral-emoji"),
        pytest.param("🇦🇿", 4, id="flag"),
        pytest.param("👨‍👩‍👧", 8, id="zwj-family"),
        pytest.param("𝔘", 2, id="math-fraktur"),
        pytest.param("\U0010ffff", 2, id="last-code-point"),
    ],
)
def test_utf16_len(text: str, length: int) -> None:
    assert utf16_len(text) == length == telegram_length(text)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        pytest.param("short text", 100, "short text", id="fits"),
        pytest.param("exactly ten", 11, "exactly ten", id="fits-exactly"),
        pytest.param("  spaced \n out\ttext  ", 100, "spaced out text", id="whitespace-collapsed"),
        pytest.param("alpha beta gamma delta", 16, "alpha beta…", id="word-boundary"),
        pytest.param("alpha beta gamma delta", 14, "alpha beta…", id="word-boundary-mid-word"),
        pytest.param("abcdefghijklmnop", 8, "abcdefg…", id="one-long-word-cut-inside"),
        pytest.param("ab cdefghijklmnop", 8, "ab cdef…", id="early-space-not-used"),
        pytest.param("😀😀😀😀", 5, "😀😀…", id="astral-counted-twice"),
        pytest.param("😀😀😀😀", 4, "😀…", id="astral-not-split"),
        pytest.param("abc", 1, "…", id="limit-one"),
    ],
)
def test_shorten(text: str, limit: int, expected: str) -> None:
    assert shorten(text, limit) == expected


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("limit", [0, -1])
def test_shorten_to_nothing_terminates(limit: int) -> None:
    with time_limit(0.5):
        assert shorten("abc def", limit) == ""


@settings(max_examples=200, deadline=None, database=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(["a", "b", "ç", "Ж", " ", "\n", "😀", "🇦", "𝔘", "-"]),
        max_size=60,
    ),
    limit=st.integers(min_value=1, max_value=40),
)
def test_shorten_never_exceeds_the_limit(text: str, limit: int) -> None:
    result = shorten(text, limit)
    collapsed = " ".join(text.split())
    assert utf16_len(result) <= limit
    if utf16_len(collapsed) <= limit:
        assert result == collapsed
    else:
        assert result.endswith("…")
        assert collapsed.startswith(result[:-1])


@pytest.mark.parametrize(
    ("text", "terms", "expected"),
    [
        pytest.param("Bayraktar TB2 flies", ("Bayraktar",), "<b>Bayraktar</b> TB2 flies", id="one"),
        pytest.param(
            "Bayraktar TB2", ("TB2", "Bayraktar TB2"), "<b>Bayraktar TB2</b>", id="longest-wins"
        ),
        pytest.param("<TB2> & co", ("TB2",), "&lt;<b>TB2</b>&gt; &amp; co", id="escaped"),
        pytest.param("TB20 and TB2", ("TB2",), "TB20 and <b>TB2</b>", id="whole-words"),
        pytest.param(
            "karabakh KARABAKH", ("Karabakh",), "<b>karabakh</b> <b>KARABAKH</b>", id="any-case"
        ),
        pytest.param("nothing here", ("Baku",), "nothing here", id="absent"),
        pytest.param("a.b", ("a.b",), "<b>a.b</b>", id="regex-characters"),
    ],
)
def test_highlight(text: str, terms: tuple[str, ...], expected: str) -> None:
    out = highlight(text, terms)
    assert out == expected
    assert parse_telegram_html(out) == text


def test_alert_snippet_highlights_the_matched_terms() -> None:
    story = Story("f", "k", "Title", "https://x.invalid/1", summary="Azerbaijan flew the TB2.")
    html = render_html(build_alert(1, "1", "r", "Rule", "Feed", story, ("TB2",)))
    assert "the <b>TB2</b>." in html
