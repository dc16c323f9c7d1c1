"""Alert messages for Telegram: HTML that Telegram's parser always accepts, within its limits.

Only the tags Telegram allows are produced (``b``, ``i``, ``a``), every piece of story text is
escaped, links are restricted to http(s), and the message is kept within 4,096 characters after
entity parsing (measured in UTF-16 code units, as Telegram does) by shortening the snippet,
never by cutting markup. A plain-text form of the same alert is the fallback when Telegram
rejects the HTML anyway.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from bot.core.localtime import show_time
from bot.core.models import URGENT, Alert, Outlet
from bot.core.watches import is_watch

MAX_MESSAGE = 4096
MAX_TITLE = 400
URGENT_MARK = "🚨 "
"""Before the title of an alert that an urgent rule matched."""
MAX_LABEL = 120
"""Feed and rule names as shown in an alert."""
MAX_TERMS = 300
SNIPPET = 350
MAX_RULES_SHOWN = 8
"""Rules named in one alert; more are counted ("and 3 more rules")."""
MAX_RULE_BUTTONS = 3
"""Rules offered as buttons under one alert (two buttons each)."""
MAX_OUTLETS_SHOWN = 5
"""Other outlets named (and linked) under an alert; more are counted ("and 3 more")."""
MAX_OUTLET = 40


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` UTF-16 units, with an ellipsis."""
    text = " ".join(text.split())
    if utf16_len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[: limit - 1]
    while utf16_len(cut) > limit - 1:
        cut = cut[:-1]
    # Cut at a word boundary, unless that would throw away more than half.
    if text[len(cut)] != " ":
        space = cut.rfind(" ")
        if space > limit // 2:
            cut = cut[:space]
    return cut.rstrip() + "…"


def _safe_link(link: str | None) -> str | None:
    if link and link.lower().startswith(("http://", "https://")):
        return link
    return None


def _when(published: datetime | None, tz: tzinfo, tz_name: str) -> str:
    return show_time(published, tz, tz_name) if published else ""


@dataclass(frozen=True, slots=True)
class Wording:
    """The few words of an alert or a digest that are not the story's, in the reader's
    language: English here; the Telegram edge supplies the others from its catalogues."""

    untitled: str = "(untitled)"
    more_rules: str = "🔎 … and {more} more rules"
    one_more_rule: str = "🔎 … and 1 more rule"
    digest_heading: str = "Digest"
    digest_title: str = "{heading}: {count} stories{counter}, times in {tz}"
    digest_title_one: str = "{heading}: 1 story{counter}, times in {tz}"
    digest_more: str = "… and {count} more stories"
    digest_also: str = "also {rules}"
    continued: str = "(continued)"
    also_reported: str = "📰 Also reported by {outlets}"
    outlets_more: str = "{outlets} and {more} more"
    digest_outlets: str = "also in {outlets}"


ENGLISH = Wording()


def _parts(
    alert: Alert, snippet_limit: int, tz: tzinfo, tz_name: str, wording: Wording = ENGLISH
) -> tuple[str, str, str, list[tuple[str, str]]]:
    """Title, snippet, source line, and (rule label, its terms) for each rule shown."""
    story = alert.story
    title = shorten(story.title or wording.untitled, MAX_TITLE)
    if alert.priority >= URGENT:  # marked, so that it stands out in a busy chat
        title = URGENT_MARK + title
    snippet = shorten(story.summary or story.content, snippet_limit) if snippet_limit > 0 else ""
    feed = shorten(alert.feed_title, MAX_LABEL)
    source = " · ".join(p for p in (feed, _when(story.published, tz, tz_name)) if p)
    shown = alert.rules[:MAX_RULES_SHOWN]
    term_limit = max(60, MAX_TERMS // max(1, len(shown)))  # several rules share the room
    rules = [(shorten(r.label, MAX_LABEL), shorten(", ".join(r.terms), term_limit)) for r in shown]
    return title, snippet, source, rules


def others(alert: Alert) -> list[Outlet]:
    """The other outlets an alert lists: each outlet once (its first version), never the
    alert's own."""
    seen = {alert.feed_title}
    out: list[Outlet] = []
    for outlet in alert.also:
        if outlet.feed_title not in seen:
            seen.add(outlet.feed_title)
            out.append(outlet)
    return out


def _outlets(alert: Alert, wording: Wording, linked: bool) -> str:
    """ "Also reported by A, B and 3 more" (HTML with links when ``linked``), or ""."""
    listed = others(alert)
    if not listed:
        return ""
    shown = listed[:MAX_OUTLETS_SHOWN]
    names = []
    for outlet in shown:
        name = shorten(outlet.feed_title, MAX_OUTLET)
        link = _safe_link(outlet.link)
        if linked:
            name = html.escape(name)
            if link:
                name = f'<a href="{html.escape(link, quote=True)}">{name}</a>'
        names.append(name)

    def fill(template: str, **values: str) -> str:
        """``template`` with ``values`` put in; in HTML the template's own text escaped."""
        if not linked:
            return template.format(**values)
        return html.escape(template, quote=False).format(**values)

    text = ", ".join(names)
    if len(listed) > len(shown):
        text = fill(wording.outlets_more, outlets=text, more=str(len(listed) - len(shown)))
    return fill(wording.also_reported, outlets=text)


def _more_rules(alert: Alert, wording: Wording) -> str:
    more = len(alert.rules) - MAX_RULES_SHOWN
    if more <= 0:
        return ""
    return wording.one_more_rule if more == 1 else wording.more_rules.format(more=more)


Action = tuple[str, str, str]
"""Something a person can do from under an alert: (``mute`` or ``unsubscribe``, rule id, the
rule's label when the alert names several rules, else "")."""


def alert_actions(alert: Alert) -> tuple[Action, ...]:
    """The actions offered under an alert: mute and unsubscribe, for each of its first rules.
    Only in private chats: in a group or channel the buttons would let anyone there change the
    chat's subscriptions."""
    if not alert.chat.isdigit():  # positive ids are people; groups and channels are negative
        return ()
    several = len(alert.rules) > 1
    return tuple(
        (kind, r.rule_id, shorten(r.label, 24) if several else "")
        for r in alert.rules[:MAX_RULE_BUTTONS]
        for kind in (("mute",) if is_watch(r.rule_id) else ("mute", "unsubscribe"))
    )


def render_html(
    alert: Alert, tz: tzinfo = UTC, tz_name: str = "UTC", wording: Wording = ENGLISH
) -> str:
    """The alert as Telegram HTML, its times in the chat's zone."""
    limit = SNIPPET
    while True:
        text = _html(alert, limit, tz, tz_name, wording)
        plain = render_plain(alert, tz, tz_name, limit, wording)
        if utf16_len(plain) <= MAX_MESSAGE or limit == 0:
            return text
        limit = max(0, limit - 200)


def _html(alert: Alert, snippet_limit: int, tz: tzinfo, tz_name: str, wording: Wording) -> str:
    title, snippet, source, rules = _parts(alert, snippet_limit, tz, tz_name, wording)
    esc = html.escape
    link = _safe_link(alert.story.link)
    head = f'<a href="{esc(link, quote=True)}">{esc(title)}</a>' if link else esc(title)
    lines = [f"<b>{head}</b>"]
    if snippet:
        lines.append(highlight(snippet, alert.matched_terms))
    if source:
        lines.append(f"<i>{esc(source)}</i>")
    for rule, terms in rules:
        lines.append(f"🔎 {esc(rule)}" + (f": <b>{esc(terms)}</b>" if terms else ""))
    if more := _more_rules(alert, wording):
        lines.append(esc(more))
    if outlets := _outlets(alert, wording, linked=True):
        lines.append(outlets)
    return "\n".join(lines)


def highlight(text: str, terms: tuple[str, ...]) -> str:
    """``text`` escaped for Telegram HTML, with whole-word occurrences of ``terms`` (as the
    story spelled them) in bold. Longer terms win where two overlap."""
    wanted = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not wanted:
        return html.escape(text)
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(t) for t in wanted) + r")(?!\w)", re.IGNORECASE
    )
    out = []
    last = 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append(f"<b>{html.escape(m.group())}</b>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def render_plain(
    alert: Alert,
    tz: tzinfo = UTC,
    tz_name: str = "UTC",
    snippet_limit: int = SNIPPET,
    wording: Wording = ENGLISH,
) -> str:
    """The alert as plain text: the fallback form, and what the console prints."""
    title, snippet, source, rules = _parts(alert, snippet_limit, tz, tz_name, wording)
    lines = [title]
    if snippet:
        lines.append(snippet)
    link = _safe_link(alert.story.link)
    if link:
        lines.append(link)
    if source:
        lines.append(source)
    for rule, terms in rules:
        lines.append(f"🔎 {rule}" + (f": {terms}" if terms else ""))
    if more := _more_rules(alert, wording):
        lines.append(more)
    if outlets := _outlets(alert, wording, linked=False):
        lines.append(outlets)
    text = "\n".join(lines)
    if utf16_len(text) > MAX_MESSAGE:
        text = shorten(text, MAX_MESSAGE)
    return text
