"""When an alert may go out, given the chat's preferences; and how held alerts read as a digest.

A chat can ask for digests (per rule, or for all rules: hourly, or daily at a local time) and
for quiet hours (a local time window). An alert that falls under either is *held*: stored with
the moment it is released, and every held alert of a chat released at the same moment goes out
as one digest message (split into several when long), grouped by rule. Rules marked ``urgent``
ignore quiet hours; a digest the person asked for is kept even for them. A digest due inside
quiet hours waits for the quiet hours to end.

Times are computed in the chat's time zone (a :class:`datetime.tzinfo` supplied by the caller)
and returned in UTC. Pure functions: no clock, no IO.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Literal

from bot.core.localtime import FORMAT
from bot.core.models import Alert
from bot.core.render import ENGLISH, MAX_LABEL, Wording, others, shorten, utf16_len
from bot.core.storylines import carried

Period = Literal["off", "hourly", "daily"]
PERIODS: tuple[Period, ...] = ("off", "hourly", "daily")
DEFAULT_DAILY_AT = time(8, 0)
ALL_RULES = "*"
"""The rule id under which a chat's "all rules" digest preference is stored."""


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest preference: ``off`` (alerts arrive one by one), ``hourly`` (at the top of each
    local hour), or ``daily`` at local time ``at``."""

    period: Period = "off"
    at: time | None = None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily local time window; ``start > end`` wraps past midnight (23:00-07:00)."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def describe(self) -> str:
        return f"{self.start.strftime('%H:%M')}-{self.end.strftime('%H:%M')}"


@dataclass(frozen=True, slots=True)
class ChatPrefs:
    """Everything that decides when a chat's alerts go out."""

    tz: tzinfo = UTC
    tz_name: str = "UTC"
    quiet: QuietHours | None = None
    digests: Mapping[str, Digest] = field(default_factory=dict)
    """Rule id (or :data:`ALL_RULES`) -> preference; a rule's own entry wins over "all"."""
    language: str | None = None
    """The language the chat chose (``/language``); None: none chosen."""
    user_language: str | None = None
    """The Telegram ``language_code`` the chat's person last wrote with (private chats)."""
    grouping: bool = True
    """Other outlets' versions of a story join the message the chat got for it (``/settings``
    turns it off: each is an alert of its own)."""

    def digest_for(self, rule_id: str) -> Digest:
        return self.digests.get(rule_id) or self.digests.get(ALL_RULES) or Digest()


def parse_clock(text: str) -> time:
    """``HH:MM`` (24-hour) as a time; ValueError otherwise."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        raise ValueError(f"{text!r} is not a time like 07:30")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"{text!r} is not a time of day")
    return time(h, m)


def parse_quiet(text: str) -> QuietHours:
    """``HH:MM-HH:MM`` as quiet hours; ValueError otherwise."""
    start, sep, end = text.replace("–", "-").replace("—", "-").partition("-")
    if not sep:
        raise ValueError(f"{text!r} is not a window like 23:00-07:00")
    window = QuietHours(parse_clock(start), parse_clock(end))
    if window.start == window.end:
        raise ValueError("the window starts and ends at the same time")
    return window


def _at_local(day: datetime, moment: time, tz: tzinfo) -> datetime:
    """``moment`` on ``day``'s local date, as UTC. A local time skipped by a daylight-saving
    change resolves as the zone says (zoneinfo maps it forward)."""
    local = datetime.combine(day.date(), moment, tzinfo=tz)
    return local.astimezone(UTC)


def _next_local(now: datetime, moment: time, tz: tzinfo) -> datetime:
    """The first instant strictly after ``now`` when the local clock shows ``moment``."""
    local_now = now.astimezone(tz)
    for days in range(3):  # today, tomorrow, and one spare for a skipped local time
        candidate = _at_local(local_now + timedelta(days=days), moment, tz)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a local time recurs within three days")


def next_digest_time(now: datetime, digest: Digest, tz: tzinfo) -> datetime | None:
    """When the digest containing an alert held at ``now`` goes out; None when ``off``."""
    if digest.period == "daily":
        return _next_local(now, digest.at or DEFAULT_DAILY_AT, tz)
    if digest.period == "hourly":
        local = now.astimezone(tz)
        top = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return top.astimezone(UTC)
    return None


def quiet_end(moment: datetime, quiet: QuietHours | None, tz: tzinfo) -> datetime | None:
    """If ``moment`` falls in quiet hours, when they end; None otherwise."""
    if quiet is None or not quiet.contains(moment.astimezone(tz).time()):
        return None
    return _next_local(moment, quiet.end, tz)


def release_time(
    now: datetime, prefs: ChatPrefs, rule_id: str, *, urgent: bool = False
) -> datetime | None:
    """When an alert for ``rule_id`` that is due ``now`` may be sent: None means now, a time
    means it is held until then and goes out in a digest."""
    release = next_digest_time(now, prefs.digest_for(rule_id), prefs.tz)
    if urgent:
        return release
    moment = release or now
    end = quiet_end(moment, prefs.quiet, prefs.tz)
    return end if end is not None else release


def alert_release(now: datetime, prefs: ChatPrefs, alert: Alert) -> datetime | None:
    """When a message carrying several rules may be sent: at once (None) if any of its rules
    is due now, else when the first of them is released. So a story goes out once, at the
    earliest moment one of its rules allows, and is never repeated by a later digest."""
    earliest: datetime | None = None
    for rule in alert.rules:
        release = release_time(now, prefs, rule.rule_id, urgent=rule.urgent)
        if release is None or release <= now:
            return None
        earliest = release if earliest is None else min(earliest, release)
    return earliest


# -- rendering --------------------------------------------------------------------------------

MAX_PART = 3900
"""UTF-16 units of visible text per digest message: below Telegram's 4,096 with room for the
part counter."""
MAX_ITEM_TITLE = 200
MAX_PLAIN_LINK = 500
"""Longer links are left out of the plain-text form (in HTML they sit in the tag, unseen)."""


@dataclass(frozen=True, slots=True)
class DigestPart:
    """One message of a digest: its HTML, its plain-text form, and the deliveries it carries
    (marked sent when Telegram accepts this message)."""

    html: str
    plain: str
    delivery_ids: tuple[int, ...]


def _item(alert: Alert, tz: tzinfo, wording: Wording) -> tuple[str, str]:
    story = alert.story
    title = shorten(story.title or wording.untitled, MAX_ITEM_TITLE)
    feed = shorten(alert.feed_title, MAX_LABEL)
    when = story.published.astimezone(tz).strftime(FORMAT) if story.published else ""
    also = ", ".join(shorten(r.label, 40) for r in alert.rules[1:4])
    if len(alert.rules) > 4:
        also += f" +{len(alert.rules) - 4}"
    also_text = wording.digest_also.format(rules=also) if also else ""
    outlets = [shorten(o.feed_title, 30) for o in others(alert)]
    outlets_text = ""
    if outlets:
        names = ", ".join(outlets[:4]) + (f" +{len(outlets) - 4}" if len(outlets) > 4 else "")
        outlets_text = wording.digest_outlets.format(outlets=names)
    meta = " · ".join(p for p in (feed, when, also_text, outlets_text) if p)
    link = story.link
    if not (link and link.lower().startswith(("http://", "https://"))):
        link = None
    esc = html.escape
    head = f'<a href="{esc(link, quote=True)}">{esc(title)}</a>' if link else esc(title)
    html_line = f"• {head}" + (f" <i>{esc(meta)}</i>" if meta else "")
    shown = link if link and len(link) <= MAX_PLAIN_LINK else None
    plain_line = f"• {title}" + (f" ({meta})" if meta else "") + (f"\n  {shown}" if shown else "")
    return html_line, plain_line


MAX_ITEMS = 40
"""Stories listed in one digest; beyond that the digest counts the rest (one message, not
hundreds, when a feed suddenly holds thousands of matches)."""


def render_digest(
    alerts: Sequence[Alert],
    heading: str,
    tz: tzinfo,
    tz_name: str = "UTC",
    limit: int = MAX_PART,
    max_items: int = MAX_ITEMS,
    wording: Wording = ENGLISH,
) -> list[DigestPart]:
    """The alerts as digest messages (see :func:`_render_parts`); past ``max_items`` stories
    the last part says how many more there are, and carries their deliveries too."""
    shown, hidden = alerts[:max_items], alerts[max_items:]
    parts = _render_parts(shown, heading, tz, tz_name, limit, len(alerts), wording)
    if not hidden:
        return parts
    more = wording.digest_more.format(count=f"{len(hidden):,}")
    last = parts[-1]
    parts[-1] = DigestPart(
        f"{last.html}\n\n<i>{more}</i>",
        f"{last.plain}\n\n{more}",
        last.delivery_ids + tuple(i for a in hidden for i in carried(a)),
    )
    return parts


def _render_parts(
    alerts: Sequence[Alert],
    heading: str,
    tz: tzinfo,
    tz_name: str,
    limit: int,
    total: int,
    wording: Wording,
) -> list[DigestPart]:
    """The alerts as one or more digest messages, one line per story, grouped by each story's
    first rule (the others are named on its line; rules in order of first appearance, stories
    in the order given), each within ``limit`` visible characters, times in the chat's zone. A
    part never cuts a story's line; a rule's group continues on the next part under its
    name."""
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        groups.setdefault(alert.rules[0].rule_id, []).append(alert)
    esc = html.escape
    # Lines as (html, plain, the deliveries a story's line carries or None for a heading).
    parts: list[list[tuple[str, str, tuple[int, ...] | None]]] = [[]]
    size = 0

    def add(line: tuple[str, str, tuple[int, ...] | None]) -> None:
        nonlocal size
        cost = utf16_len(line[1]) + 1
        if parts[-1] and size + cost > limit:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += cost

    for rule_alerts in groups.values():
        rule = shorten(rule_alerts[0].rules[0].label, MAX_LABEL)
        label = f"{rule} ({len(rule_alerts)})"
        heading_line = (f"\n🔎 <b>{esc(label)}</b>", f"\n🔎 {label}", None)
        add(heading_line)
        for alert in rule_alerts:
            before = len(parts)
            html_line, plain_line = _item(alert, tz, wording)
            item = (html_line, plain_line, tuple(carried(alert)))
            add(item)
            if len(parts) == before:
                continue
            # The story starts a new part: it must not begin without its rule's name.
            parts[-1].pop()
            size = 0
            if parts[-2][-1] is heading_line:  # the name alone ended the last part: move it
                parts[-2].pop()
                add((heading_line[0].lstrip(), heading_line[1].lstrip(), None))
            else:
                more = wording.continued
                add((f"🔎 <b>{esc(rule)}</b> {esc(more)}", f"🔎 {rule} {more}", None))
            add(item)
    count = total
    total = len(parts)
    out = []
    for index, lines in enumerate(parts, start=1):
        counter = f" ({index}/{total})" if total > 1 else ""
        template = wording.digest_title_one if count == 1 else wording.digest_title
        title = template.format(heading=heading, count=f"{count:,}", counter=counter, tz=tz_name)
        html_text = "\n".join([f"📰 <b>{esc(title)}</b>", *(h for h, _, _ in lines)])
        plain_text = "\n".join([f"📰 {title}", *(p for _, p, _ in lines)])
        ids = tuple(i for _, _, carries in lines if carries is not None for i in carries)
        out.append(DigestPart(html_text.strip(), plain_text.strip(), ids))
    return out
