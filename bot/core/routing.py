"""The routing stage: from the rule matches of a poll's new stories to the messages to send.

One message per (chat, story), carrying every rule that matched the story for that chat, the
most urgent rule first. A chat is reached by a rule through its ``notify`` list or a
subscription; both lead to the same one message. Mutes apply here, per rule and per chat: a
muted rule does not reach the chat (the message carries only the rules still on), and a chat
muted as a whole gets nothing. Reachability does *not* apply here: a message to a chat the bot
cannot reach now is still created, and held until the chat is back (see
:mod:`bot.core.outbox`).

"Story" is whatever unit the caller routes: today one item of one feed; the stage neither knows
nor cares how the unit was formed, so grouping several outlets' items into one story plugs in
before it. Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace

from bot.core.chats import split_target, with_topic
from bot.core.models import PRIORITIES, Match, NewDelivery, RuleMatch, Story
from bot.core.rules import Rule


@dataclass(frozen=True, slots=True)
class Audience:
    """Who follows which rule, as the store knows it when a poll's stories are routed."""

    subscribers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Rule id -> targets subscribed to it (reachable or not)."""
    muted_rules: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Target -> rule ids it has muted at the moment."""
    muted_chats: frozenset[str] = frozenset()
    """Targets muted as a whole at the moment."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Other names of chats -> the chat's id: ``@username`` of a channel or group, and the old
    id of a group that became a supergroup."""

    def resolve(self, target: str) -> str:
        """The target under the chat's one identity (a forum topic keeps its topic)."""
        chat, topic = split_target(target)
        return with_topic(self.aliases.get(chat, chat), topic)


def route(
    matched: Iterable[tuple[Story, Sequence[Match]]],
    rules: Mapping[str, Rule],
    audience: Audience,
    *,
    only_recipient: str | None = None,
) -> list[NewDelivery]:
    """The messages for ``matched`` (each story with the rules that matched it), in story
    order. With ``only_recipient`` (the console) every matched story goes to that one chat,
    whoever follows it."""
    out: list[NewDelivery] = []
    for story, matches in matched:
        per_chat: dict[str, list[RuleMatch]] = {}
        for match in matches:
            rule = rules.get(match.rule_id)
            if rule is None:
                continue
            if only_recipient is not None:
                targets: Iterable[str] = (only_recipient,)
            else:
                targets = dict.fromkeys(
                    audience.resolve(t)
                    for t in (*rule.notify, *audience.subscribers.get(rule.id, ()))
                )
            hit: RuleMatch | None = None
            for chat in targets:
                if chat in audience.muted_chats or rule.id in audience.muted_rules.get(
                    chat, frozenset()
                ):
                    continue
                if hit is None:  # the terms are worked out only for a match with a recipient
                    hit = RuleMatch(
                        rule.id,
                        match.terms,
                        PRIORITIES.get(rule.priority, 0),
                        rule.title,
                        rule.silent,
                        rule.link_preview,
                    )
                per_chat.setdefault(chat, []).append(hit)
        for chat, hits in per_chat.items():
            ordered = sorted(hits, key=lambda h: -h.priority)  # stable: match order otherwise
            out.append(NewDelivery(story.key, chat, tuple(ordered)))
    return out


def cap_burst(
    deliveries: Sequence[NewDelivery], sent: MutableMapping[str, int], cap: int
) -> list[NewDelivery]:
    """At most ``cap`` messages of their own per chat for one poll of one feed (``sent``
    counts them across the poll's slices); the others are marked for a digest, released at
    once: a feed that suddenly holds thousands of matching items sends each chat one digest
    with their count, not thousands of messages."""
    out = []
    for delivery in deliveries:
        sent[delivery.chat] = sent.get(delivery.chat, 0) + 1
        out.append(delivery if sent[delivery.chat] <= cap else replace(delivery, digest=True))
    return out
