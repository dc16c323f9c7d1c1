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
from datetime import datetime

from bot.core.models import Alert

MAX_MESSAGE = 4096
MAX_TITLE = 400
MAX_LABEL = 120
"""Feed and rule names as shown in an alert."""
MAX_TERMS = 300
SNIPPET = 350


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


def _when(published: datetime | None) -> str:
    return published.strftime("%Y-%m-%d %H:%M UTC") if published else ""


def _parts(alert: Alert, snippet_limit: int) -> tuple[str, str, str, str]:
    story = alert.story
    title = shorten(story.title or "(untitled)", MAX_TITLE)
    snippet = shorten(story.summary or story.content, snippet_limit) if snippet_limit > 0 else ""
    feed = shorten(alert.feed_title, MAX_LABEL)
    source = " · ".join(p for p in (feed, _when(story.published)) if p)
    terms = shorten(", ".join(alert.matched_terms), MAX_TERMS)
    return title, snippet, source, terms


Action = tuple[str, str]
"""Something a person can do from under an alert: (``mute`` or ``unsubscribe``, rule id)."""


def alert_actions(alert: Alert) -> tuple[Action, ...]:
    """The actions offered under an alert. Only in private chats: in a group or channel the
    buttons would let anyone there change the chat's subscriptions."""
    if alert.chat.isdigit():  # positive ids are people; groups and channels are negative
        return (("mute", alert.rule_id), ("unsubscribe", alert.rule_id))
    return ()


def render_html(alert: Alert) -> str:
    """The alert as Telegram HTML."""
    limit = SNIPPET
    while True:
        text = _html(alert, limit)
        if utf16_len(render_plain(alert, limit)) <= MAX_MESSAGE or limit == 0:
            return text
        limit = max(0, limit - 200)


def _html(alert: Alert, snippet_limit: int) -> str:
    title, snippet, source, terms = _parts(alert, snippet_limit)
    esc = html.escape
    link = _safe_link(alert.story.link)
    head = f'<a href="{esc(link, quote=True)}">{esc(title)}</a>' if link else esc(title)
    lines = [f"<b>{head}</b>"]
    if snippet:
        lines.append(highlight(snippet, alert.matched_terms))
    if source:
        lines.append(f"<i>{esc(source)}</i>")
    rule = shorten(alert.rule_title, MAX_LABEL)
    lines.append(f"🔎 {esc(rule)}" + (f": <b>{esc(terms)}</b>" if terms else ""))
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


def render_plain(alert: Alert, snippet_limit: int = SNIPPET) -> str:
    """The alert as plain text: the fallback form, and what the console prints."""
    title, snippet, source, terms = _parts(alert, snippet_limit)
    lines = [title]
    if snippet:
        lines.append(snippet)
    link = _safe_link(alert.story.link)
    if link:
        lines.append(link)
    if source:
        lines.append(source)
    rule = shorten(alert.rule_title, MAX_LABEL)
    lines.append(f"🔎 {rule}" + (f": {terms}" if terms else ""))
    text = "\n".join(lines)
    if utf16_len(text) > MAX_MESSAGE:
        text = shorten(text, MAX_MESSAGE)
    return text
