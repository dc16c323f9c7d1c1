"""One message per story across outlets, the pure part: folding a batch's versions of a story
into one alert, joining versions to a message already sent, edit timing, the "also reported
by" line (valid Telegram HTML within the limits) and digests with one line per story."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.core.digest import render_digest
from bot.core.models import Alert, Story
from bot.core.render import MAX_MESSAGE, render_html, render_plain, utf16_len
from bot.core.storylines import (
    EditPolicy,
    SentStory,
    after_edit,
    carried,
    current_actions,
    edit_due,
    fold,
    joins,
)
from tests.builders import alert
from tests.fakes.telegram_html import parse_telegram_html_entities

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def version(n: int, outlet: str, chat: str = "1001", cluster: str | None = "wire/1") -> Alert:
    story = Story(
        feed=outlet.lower(),
        key=f"k{n}",
        title=f"Version {n} of the story <b>&",
        link=f"https://{outlet.lower()}.example/{n}?a=1&b=2",
        published=NOW,
    )
    return alert(n, chat, "drones", "Drones", outlet, story, ("drones",), cluster=cluster)


def always(chat: str) -> bool:
    return True


def test_fold_keeps_the_first_version_and_lists_the_others_per_chat() -> None:
    batch = [
        version(1, "AP"),
        version(2, "Reuters"),
        version(3, "AP", chat="1002"),
        version(4, "Xinhua", cluster="other/9"),
        version(5, "Yahoo"),
        version(6, "Solo", cluster=None),
    ]
    folded = fold(batch, always)
    assert [a.delivery_id for a in folded] == [1, 3, 4, 6]
    assert [o.feed_title for o in folded[0].also] == ["Reuters", "Yahoo"]
    assert carried(folded[0]) == [1, 2, 5]
    assert all(not a.also for a in folded[1:])
    # The earliest stored version leads, wherever it came in the batch (priority first).
    (lead,) = fold([version(9, "Yahoo"), version(3, "AP"), version(7, "TRT")], always)
    assert lead.delivery_id == 3
    assert [o.delivery_id for o in lead.also] == [9, 7]
    # Grouping off for a chat: each version is its own alert.
    assert [a.delivery_id for a in fold(batch, lambda chat: chat != "1001")] == [1, 2, 3, 4, 5, 6]


def test_joins_only_for_chats_that_have_the_story_and_group() -> None:
    sent = {("1001", "wire/1"): SentStory(message_id=77, head_id=1, feed="ap")}
    batch = [version(2, "Reuters"), version(3, "AP", chat="1002"), version(4, "X", cluster=None)]
    joined, rest = joins(batch, sent, always)
    assert [(j.delivery_id, j.message.message_id, j.new_outlet) for j in joined] == [(2, 77, True)]
    # The message's own feed repeating the story (a new id) joins without a new outlet.
    (same,), _ = joins([version(5, "AP")], sent, always)
    assert not same.new_outlet
    assert [a.delivery_id for a in rest] == [3, 4]
    joined, rest = joins(batch, sent, lambda chat: False)
    assert joined == [] and len(rest) == 3


def test_edits_are_batched_and_spaced() -> None:
    policy = EditPolicy(after=timedelta(seconds=30), every=timedelta(minutes=5))
    assert edit_due(NOW, None, policy) == NOW + timedelta(seconds=30)
    # Edited a minute ago: the next edit waits for the rest of the five minutes.
    assert edit_due(NOW, NOW - timedelta(minutes=1), policy) == NOW + timedelta(minutes=4)
    assert edit_due(NOW, NOW - timedelta(hours=1), policy) == NOW + timedelta(seconds=30)
    rendered = NOW - timedelta(seconds=2)
    assert after_edit(NOW, rendered, rendered - timedelta(seconds=1), policy) is None
    assert after_edit(NOW, rendered, NOW - timedelta(seconds=1), policy) == NOW + policy.every


def test_edited_buttons_keep_their_undo_state() -> None:
    actions = (("mute", "a", ""), ("unsubscribe", "a", ""))
    assert current_actions(actions, (), ("a",)) == actions
    assert current_actions(actions, ("a",), ("a",)) == (("unmute", "a", ""),)
    assert current_actions(actions, (), ()) == (("subscribe", "a", ""),)
    watch = (("mute", "watch:3", ""),)
    assert current_actions(watch, (), ()) == watch


def test_also_reported_line_is_valid_html_with_links_and_a_count() -> None:
    outlets = ["AP", "Reuters", "Xinhua", "Al Jazeera", "Yahoo", "TRT", "APA", "TASS"]
    batch = [version(i, name) for i, name in enumerate(outlets, 1)]
    batch.append(version(20, "Reuters"))  # a second Reuters version: listed once
    (head,) = fold(batch, always)
    text = render_html(head)
    parsed = parse_telegram_html_entities(text)
    last = parsed.text.splitlines()[-1]
    assert last == "📰 Also reported by Reuters, Xinhua, Al Jazeera, Yahoo, TRT and 2 more"
    links = [e["url"] for e in parsed.entities if e["type"] == "text_link"]
    assert "https://reuters.example/2?a=1&b=2" in links
    assert "https://tass.example/8?a=1&b=2" not in links  # counted, not linked
    plain = render_plain(head)
    assert plain.splitlines()[-1] == last
    # Whatever the story, the message stays within Telegram's limit.
    long_story = Story("ap", "k", "T" * 5000, "https://ap.example/1", "word " * 2000)
    big = replace(head, story=long_story)
    assert utf16_len(parse_telegram_html_entities(render_html(big)).text) <= MAX_MESSAGE
    assert parse_telegram_html_entities(render_html(big)).text.endswith("and 2 more")


def test_a_digest_has_one_line_per_story_with_its_outlets() -> None:
    batch = [version(1, "AP"), version(2, "Reuters"), version(3, "Xinhua", cluster="b/2")]
    (part,) = render_digest(fold(batch, always), "Digest", UTC)
    assert part.delivery_ids == (1, 2, 3)
    lines = [line for line in part.plain.splitlines() if line.startswith("•")]
    assert len(lines) == 2
    assert "also in Reuters" in lines[0]
    assert "also in" not in lines[1]
    parse_telegram_html_entities(part.html)
