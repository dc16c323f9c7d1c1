"""The routing stage, table-driven: one message per (chat, story) with every rule that
matched for that chat, mutes per rule and per chat, aliases, and unreachable chats kept."""

from __future__ import annotations

from bot.core.models import Hit, Match, Story
from bot.core.routing import Audience, route
from bot.core.rules import Rule

RULES = {
    r.id: r
    for r in (
        Rule(id="karabakh", title="Karabakh", notify=("@caucasus", "-100200")),
        Rule(id="turkish-drones", title="Turkish drones", priority="high"),
        Rule(id="ucav", title="UCAV", notify=("-100200",), priority="urgent"),
    )
}
STORY = Story(feed="news", key="k1", title="Akıncı drones strike near Karabakh")


def matches(*rule_ids: str) -> list[Match]:
    return [Match(r, (Hit(r.upper(), "title", 0, 1, r),)) for r in rule_ids]


def routed(audience: Audience, *rule_ids: str) -> dict[str, list[str]]:
    out = route([(STORY, matches(*rule_ids))], RULES, audience)
    assert len({(d.story_key, d.chat) for d in out}) == len(out), "one message per chat"
    return {d.chat: [r.rule_id for r in d.rules] for d in out}


def test_three_rules_one_chat_by_subscription_and_notify_is_one_message() -> None:
    audience = Audience(subscribers={"karabakh": ["-100200"], "turkish-drones": ["-100200"]})
    got = routed(audience, "karabakh", "turkish-drones", "ucav")
    # urgent first, then high, then normal
    assert got["-100200"] == ["ucav", "turkish-drones", "karabakh"]
    assert got["@caucasus"] == ["karabakh"]


def test_a_muted_rule_drops_out_of_the_message_and_a_muted_chat_gets_nothing() -> None:
    subs = {"karabakh": ["42", "43"], "turkish-drones": ["42", "43"]}
    audience = Audience(
        subscribers=subs,
        muted_rules={"42": frozenset({"karabakh"})},
        muted_chats=frozenset({"43"}),
    )
    got = routed(audience, "karabakh", "turkish-drones")
    assert got["42"] == ["turkish-drones"]
    assert "43" not in got


def test_aliases_give_a_chat_one_identity_topics_included() -> None:
    audience = Audience(
        subscribers={"turkish-drones": ["-100999/7"]},
        aliases={"@caucasus": "-100999", "-100200": "-100999"},
    )
    got = routed(audience, "karabakh", "turkish-drones", "ucav")
    assert got == {"-100999": ["ucav", "karabakh"], "-100999/7": ["turkish-drones"]}


def test_the_console_gets_every_matched_story_once_whoever_follows() -> None:
    out = route([(STORY, matches("karabakh", "ucav"))], RULES, Audience(), only_recipient="c")
    assert [(d.chat, [r.rule_id for r in d.rules]) for d in out] == [("c", ["ucav", "karabakh"])]


def test_a_removed_rule_routes_nowhere() -> None:
    assert routed(Audience(subscribers={"gone": ["42"]}), "gone") == {}
