"""Builders for the core records that tests make by the dozen: an alert or a delivery that
names one rule, as most tests want."""

from __future__ import annotations

from typing import Any

from bot.core.models import Alert, NewDelivery, RuleMatch, Story


def alert(
    delivery_id: int,
    chat: str,
    rule_id: str,
    rule_title: str,
    feed_title: str,
    story: Story,
    matched_terms: tuple[str, ...] = (),
    *,
    priority: int = 0,
    silent: bool = False,
    link_preview: bool = False,
    **kw: Any,
) -> Alert:
    rule = RuleMatch(rule_id, matched_terms, priority, rule_title, silent, link_preview)
    return Alert(delivery_id, chat, story, (rule,), feed_title, **kw)


def delivery(
    story_key: str, rule_id: str, chat: str, terms: tuple[str, ...] = (), priority: int = 0
) -> NewDelivery:
    return NewDelivery(story_key, chat, (RuleMatch(rule_id, terms, priority),))
