"""Inline buttons: what their callback data says, and reading it back (edge: Telegram).

Callback data is limited to 64 bytes and rule ids may be 64 characters, so a button names its
rule by a short hash; a button whose rule was renamed or removed since the message was sent
resolves to nothing, and the person is told so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from enum import Enum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.render import Action, shorten
from bot.core.rules import Rule
from bot.core.watches import is_watch
from bot.telegram import texts
from bot.telegram.i18n import _

KINDS = {"mute": "m", "unsubscribe": "u", "subscribe": "s", "unmute": "x"}
_KIND_OF = {short: kind for kind, short in KINDS.items()}


def rule_token(rule_id: str) -> str:
    return hashlib.sha1(rule_id.encode(), usedforsecurity=False).hexdigest()[:10]


def data(kind: str, rule_id: str, page: int | None = None) -> str:
    """Callback data for ``kind`` on a rule, e.g. ``m:3f2a9c01be``; ``:page`` for /rules."""
    suffix = f":{page}" if page is not None else ""
    return f"{KINDS[kind]}:{rule_token(rule_id)}{suffix}"


def page_data(page: int) -> str:
    return f"p:{page}"


def parse(value: str, rules: Iterable[Rule]) -> tuple[str, Rule | None, int | None]:
    """(kind, the rule it names or None if gone, page or None) of callback data."""
    parts = value.split(":")
    if parts[0] == "p" and len(parts) == 2 and parts[1].isdigit():
        return "page", None, int(parts[1])
    kind = _KIND_OF.get(parts[0], "unknown")
    token = parts[1] if len(parts) > 1 else ""
    page = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    rule = next((r for r in rules if rule_token(r.id) == token), None)
    return kind, rule, page


def alert_keyboard(actions: Sequence[Action]) -> InlineKeyboardMarkup | None:
    """The buttons under an alert: one row per rule, named when the alert has several. An
    ``unmute`` or ``subscribe`` action makes its rule's row the undo row (:class:`Row`), as
    an edited alert shows it after a press."""
    if not actions:
        return None
    labels = {"mute": _(texts.BUTTON_MUTE_24H), "unsubscribe": _(texts.BUTTON_UNSUBSCRIBE)}
    named = {"mute": _(texts.BUTTON_MUTE_RULE_24H), "unsubscribe": _(texts.BUTTON_UNSUBSCRIBE_RULE)}
    undo = {"unmute": Row.MUTED, "subscribe": Row.UNSUBSCRIBED}
    rows: dict[str, list[InlineKeyboardButton]] = {}
    for kind, rule_id, label in actions:
        if kind in undo:
            rows[rule_id] = alert_row(rule_id, label, undo[kind])
            continue
        text = named[kind].format(rule=label) if label else labels[kind]
        rows.setdefault(rule_id, []).append(
            InlineKeyboardButton(text, callback_data=data(kind, rule_id))
        )
    return InlineKeyboardMarkup(list(rows.values()))


class Row(Enum):
    """What one rule's buttons under an alert offer."""

    NORMAL = "normal"
    """Mute and unsubscribe."""
    MUTED = "muted"
    """Unmute: the undo of the mute."""
    UNSUBSCRIBED = "unsubscribed"
    """Subscribe again: the undo of the unsubscribe."""


def alert_row(rule_id: str, label: str, state: Row) -> list[InlineKeyboardButton]:
    """One rule's buttons under an alert (``label`` names the rule when the alert has
    several), as ``state`` says."""
    if state is Row.MUTED:
        text = _(texts.BUTTON_UNMUTE_RULE).format(rule=label) if label else _(texts.BUTTON_UNMUTE)
        return [InlineKeyboardButton(text, callback_data=data("unmute", rule_id))]
    if state is Row.UNSUBSCRIBED:
        again = _(texts.BUTTON_RESUBSCRIBE_RULE)
        text = again.format(rule=label) if label else _(texts.BUTTON_RESUBSCRIBE)
        return [InlineKeyboardButton(text, callback_data=data("subscribe", rule_id))]
    kinds = ("mute",) if is_watch(rule_id) else ("mute", "unsubscribe")
    keyboard = alert_keyboard([(kind, rule_id, label) for kind in kinds])
    assert keyboard is not None
    return list(keyboard.inline_keyboard[0])


AFTER = {
    "mute": Row.MUTED,
    "unmute": Row.NORMAL,
    "unsubscribe": Row.UNSUBSCRIBED,
    "subscribe": Row.NORMAL,
}
"""The one place that says what a rule's buttons become once one of them is pressed."""


def after_press(
    markup: InlineKeyboardMarkup | None, rule: Rule, kind: str
) -> InlineKeyboardMarkup | None:
    """An alert's buttons once ``kind`` was pressed for ``rule``: that rule's row swapped
    for its undo (or back), the other rules' rows as they were."""
    if markup is None:
        return None
    token = rule_token(rule.id)
    rows = [list(row) for row in markup.inline_keyboard]
    ruled = [row for row in rows if any(b.callback_data for b in row)]  # not link rows
    label = shorten(rule.title or rule.id, 24) if len(ruled) > 1 else ""
    return InlineKeyboardMarkup(
        [
            alert_row(rule.id, label, AFTER[kind])
            if any(str(b.callback_data or "").split(":")[1:2] == [token] for b in row)
            else row
            for row in rows
        ]
    )
