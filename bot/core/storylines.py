"""One message per story across outlets: which alerts of a chat are another outlet's version of
a story the chat has, and when a message that later versions joined is edited to list them.

The clustering stage (:mod:`bot.core.clustering`) gives each matched story the story it
reports (``Alert.cluster``). Before sending, the sender

1. joins each alert whose story the chat already got, in a single message of the last
   :attr:`EditPolicy.window`, to that message (state ``joined``; the message is edited later);
2. folds the alerts of one batch (or one digest) that report the same story into the first of
   them (:func:`fold`): one message, or one digest line, listing the other outlets.

An edit is owed from the first join on; it is due :attr:`EditPolicy.after` later (so that a
burst of versions makes one edit) and never sooner than :attr:`EditPolicy.every` after the
message's last edit (:func:`edit_due`). Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.core.models import Alert, Outlet, Story
from bot.core.render import Action


@dataclass(frozen=True, slots=True)
class EditPolicy:
    """How later versions of a story reach a chat that has its message."""

    window: timedelta = timedelta(hours=48)
    """A version joins a message sent at most this long ago; later, it is an alert again."""
    after: timedelta = timedelta(seconds=30)
    """Versions arriving within this time of the first one are listed by one edit."""
    every: timedelta = timedelta(minutes=5)
    """At most one edit of a message per this period (edits count against Telegram's limits,
    and a message that keeps changing is hard to read)."""
    max_failures: int = 5
    """Failed edits of one message (network, server) before its edits are given up."""


@dataclass(frozen=True, slots=True)
class SentStory:
    """The single message a chat got for a story: the one later versions join."""

    message_id: int
    head_id: int
    """The delivery that message was sent for."""
    feed: str = ""
    """The feed of the story it was sent for."""


@dataclass(frozen=True, slots=True)
class Joining:
    """A delivery that joins the message its chat has for its story."""

    delivery_id: int
    chat: str
    message: SentStory
    new_outlet: bool
    """From another feed than the message's own story (a feed repeating a story under a new
    id joins without an edit: there is nothing new to list)."""


@dataclass(frozen=True, slots=True)
class EditJob:
    """A message owed an edit: its alert, listing every version that joined it."""

    chat: str
    message_id: int
    alert: Alert
    rendered_at: datetime
    """When its content was read (a version joining later makes another edit due)."""
    listed: int
    """How many other outlets the message lists now (an edit listing no more is not made)."""
    muted: frozenset[str]
    """The alert's rules muted for the chat now (their buttons show the undo)."""
    subscribed: frozenset[str]
    """The alert's rules the chat is subscribed to now."""


@dataclass(frozen=True, slots=True)
class ClusteredStory:
    """A stored story that matched, with the story (cluster) it was placed in."""

    id: int
    story: Story
    cluster: str
    seen_at: datetime


def edit_due(now: datetime, edited_at: datetime | None, policy: EditPolicy) -> datetime:
    """When a message that a version joined ``now`` is next edited."""
    due = now + policy.after
    if edited_at is not None:
        due = max(due, edited_at + policy.every)
    return due


def after_edit(
    now: datetime, rendered_at: datetime, joined_at: datetime, policy: EditPolicy
) -> datetime | None:
    """When a message edited ``now`` (with what had joined by ``rendered_at``) is edited
    next: never, unless a version joined after the edit was rendered."""
    return now + policy.every if joined_at > rendered_at else None


def joins(
    alerts: Iterable[Alert],
    sent: Mapping[tuple[str, str], SentStory],
    grouping: Callable[[str], bool],
) -> tuple[list[Joining], list[Alert]]:
    """(alerts that join a message their chat has for their story, the other alerts)."""
    joined: list[Joining] = []
    rest: list[Alert] = []
    for alert in alerts:
        message = (
            sent.get((alert.chat, alert.cluster))
            if alert.cluster is not None and grouping(alert.chat)
            else None
        )
        if message is None:
            rest.append(alert)
        else:
            joined.append(
                Joining(alert.delivery_id, alert.chat, message, alert.story.feed != message.feed)
            )
    return joined, rest


def fold(alerts: Sequence[Alert], grouping: Callable[[str], bool]) -> list[Alert]:
    """The alerts with those of one chat reporting one story folded into one (it lists the
    others as :attr:`Alert.also`), at the place of the first: the earliest stored version
    (lowest delivery id) leads, as the store later finds a message's lead; order otherwise
    kept."""
    out: list[Alert] = []
    first: dict[tuple[str, str], int] = {}
    for alert in alerts:
        if alert.cluster is None or not grouping(alert.chat):
            out.append(alert)
            continue
        key = (alert.chat, alert.cluster)
        index = first.get(key)
        if index is None:
            first[key] = len(out)
            out.append(alert)
            continue
        head = out[index]
        if alert.delivery_id < head.delivery_id:
            out[index] = replace(alert, also=(outlet_of(head), *head.also, *alert.also))
        else:
            out[index] = replace(head, also=(*head.also, outlet_of(alert), *alert.also))
    return out


def outlet_of(alert: Alert) -> Outlet:
    """How a message lists ``alert`` as another outlet's version of its story."""
    return Outlet(alert.delivery_id, alert.feed_title, alert.story.title, alert.story.link)


def carried(alert: Alert) -> list[int]:
    """Every delivery a message for ``alert`` carries: its own and those folded into it."""
    return [alert.delivery_id, *(o.delivery_id for o in alert.also)]


def current_actions(
    actions: Sequence[Action], muted: Iterable[str], subscribed: Iterable[str]
) -> tuple[Action, ...]:
    """An alert's actions as its buttons show them now, for an edit that must keep them: a
    muted rule offers its unmute, a rule the chat unsubscribed from offers to subscribe
    again (the undo rows of the buttons)."""
    muted_ids, subscribed_ids = set(muted), set(subscribed)
    out: list[Action] = []
    done: set[str] = set()
    for kind, rule_id, label in actions:
        if rule_id in muted_ids:
            if rule_id not in done:
                out.append(("unmute", rule_id, label))
                done.add(rule_id)
        elif kind == "unsubscribe" and rule_id not in subscribed_ids:
            out = [a for a in out if a[1] != rule_id]
            out.append(("subscribe", rule_id, label))
            done.add(rule_id)
        elif rule_id not in done:
            out.append((kind, rule_id, label))
    return tuple(out)
