"""Tiny builders of RSS 2.0 and Atom 1.0 documents for tests.

Everything is escaped by :mod:`xml.etree.ElementTree`, so titles, summaries and content may
contain ``&``, ``<`` and whole HTML fragments: summaries and content are written as escaped
text (``&lt;p&gt;``), which feedparser reads as HTML (and sanitizes). Dates are written as
RFC 822 (RSS) or RFC 3339 (Atom); naive datetimes are taken to be UTC.

    body = rss([Item("Drone strike", "https://example.invalid/1", published=dt)])
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

__all__ = ["Item", "atom", "rfc822", "rfc3339", "rss"]

CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
ATOM_NS = "http://www.w3.org/2005/Atom"
DEFAULT_LINK = "https://example.invalid/"

ET.register_namespace("content", CONTENT_NS)

# Characters XML 1.0 cannot carry at all, not even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class Item:
    """One feed entry. ``guid`` defaults to none in RSS and to ``link`` as the Atom id."""

    title: str
    link: str
    guid: str | None = None
    summary: str = ""
    content: str | None = None
    published: datetime | None = None
    author: str | None = None
    categories: Sequence[str] = ()


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def rfc822(dt: datetime) -> str:
    """``Tue, 06 Oct 2020 09:30:00 +0400``; naive datetimes are UTC (``+0000``)."""
    return format_datetime(_utc(dt))


def rfc3339(dt: datetime) -> str:
    """``2020-10-06T09:30:00+04:00``, or with ``Z`` for UTC."""
    text = _utc(dt).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _text(parent: ET.Element, tag: str, text: str, **attrib: str) -> ET.Element:
    if _INVALID_XML.search(text):
        raise ValueError(f"{tag}: text contains characters XML 1.0 cannot represent")
    element = ET.SubElement(parent, tag, attrib)
    element.text = text
    return element


def _serialize(root: ET.Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def rss(
    items: Iterable[Item],
    *,
    title: str = "Test feed",
    link: str = DEFAULT_LINK,
    description: str = "A feed generated for tests",
    language: str | None = "en",
    ttl: int | None = None,
) -> bytes:
    """An RSS 2.0 document (UTF-8 bytes)."""
    root = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(root, "channel")
    _text(channel, "title", title)
    _text(channel, "link", link)
    _text(channel, "description", description)
    if language:
        _text(channel, "language", language)
    if ttl is not None:
        _text(channel, "ttl", str(ttl))
    for item in items:
        node = ET.SubElement(channel, "item")
        _text(node, "title", item.title)
        _text(node, "link", item.link)
        if item.guid is not None:
            is_link = item.guid.startswith(("http://", "https://"))
            _text(node, "guid", item.guid, isPermaLink="true" if is_link else "false")
        if item.summary:
            _text(node, "description", item.summary)
        if item.content is not None:
            _text(node, f"{{{CONTENT_NS}}}encoded", item.content)
        if item.published is not None:
            _text(node, "pubDate", rfc822(item.published))
        if item.author:
            _text(node, "author", item.author)
        for category in item.categories:
            _text(node, "category", category)
    return _serialize(root)


def atom(
    items: Iterable[Item],
    *,
    title: str = "Test feed",
    link: str = DEFAULT_LINK,
    feed_id: str | None = None,
    subtitle: str | None = None,
    updated: datetime | None = None,
) -> bytes:
    """An Atom 1.0 document (UTF-8 bytes).

    Entries get ``<published>`` and ``<updated>`` only when ``Item.published`` is set. The
    feed's ``<updated>`` is ``updated``, else the newest entry date, else 2000-01-01T00:00Z.
    """
    entries = list(items)
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    _text(root, "title", title)
    if subtitle is not None:
        _text(root, "subtitle", subtitle)
    ET.SubElement(root, "link", {"rel": "alternate", "href": link})
    _text(root, "id", feed_id or link)
    dates = [_utc(item.published) for item in entries if item.published is not None]
    stamp = updated or (max(dates) if dates else datetime(2000, 1, 1, tzinfo=UTC))
    _text(root, "updated", rfc3339(stamp))
    for item in entries:
        node = ET.SubElement(root, "entry")
        _text(node, "title", item.title, type="text")
        ET.SubElement(node, "link", {"rel": "alternate", "href": item.link})
        _text(node, "id", item.guid or item.link)
        if item.published is not None:
            _text(node, "published", rfc3339(item.published))
            _text(node, "updated", rfc3339(item.published))
        if item.author:
            author = ET.SubElement(node, "author")
            _text(author, "name", item.author)
        for category in item.categories:
            if _INVALID_XML.search(category):
                raise ValueError("category contains characters XML 1.0 cannot represent")
            ET.SubElement(node, "category", {"term": category})
        if item.summary:
            _text(node, "summary", item.summary, type="html")
        if item.content is not None:
            _text(node, "content", item.content, type="html")
    return _serialize(root)
