"""OPML subscription lists (pure): reading the exports of feed readers into feeds with names
and tags, and writing the bot's feed list as OPML 2.0.

Reading takes what the big readers write: OPML 1.0 to 2.0, folders (nested outlines; each
folder a tag, the outer ones too), the ``category`` attribute (comma-separated tags, ``/a/b``
paths), ``title`` or ``text``, a declaration after white space. Exports that are not
well-formed in the common ways (a bare ``&``, an HTML entity such as ``&aelig;``) are repaired
and read; anything else is refused with its line and column. Outlines without a feed URL
(folders, sites, includes) are not feeds; the report counts them.
"""

from __future__ import annotations

import html.entities
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from bot.core.errors import ConfigError, Problem

_BARE_AMP = re.compile(rb"&(?!#\d+;|#x[0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
_NAMED = re.compile(rb"&([A-Za-z][A-Za-z0-9]*);")
_XML_NAMED = {b"amp", b"lt", b"gt", b"quot", b"apos"}
_NAME_CHARS = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One feed of an OPML list."""

    url: str
    title: str
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class OpmlList:
    title: str
    feeds: list[Subscription] = field(default_factory=list)
    skipped: int = 0
    """Outlines with no usable feed URL (sites, includes, empty or non-http URLs)."""
    repaired: bool = False
    """The file was not well-formed and was read after repairs."""


def _repair(body: bytes) -> bytes:
    """A bare ``&`` escaped, HTML named entities written as character references."""

    def named(m: re.Match[bytes]) -> bytes:
        name = m.group(1)
        if name in _XML_NAMED:
            return m.group(0)
        code = html.entities.name2codepoint.get(name.decode("ascii"))
        return f"&#{code};".encode("ascii") if code is not None else b"&amp;" + name + b";"

    return _NAMED.sub(named, _BARE_AMP.sub(b"&amp;", body))


def read(body: bytes, source: str) -> OpmlList:
    """The feeds of an OPML file; raises :class:`ConfigError` naming ``source``, the line and
    the column when it cannot be read."""
    body = body.lstrip()
    if b"<!ENTITY" in body or b"<!DOCTYPE" in body.upper():
        # No OPML needs a DTD; refusing one is what makes the parser below safe (no entity
        # expansion, no external entities).
        raise ConfigError([Problem(source, "an OPML file with a DTD is not read")])
    repaired = False
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTD (checked above)
    except ET.ParseError:
        try:
            root = ET.fromstring(_repair(body))  # noqa: S314 - no DTD (checked above)
            repaired = True
        except ET.ParseError as exc:
            line, column = exc.position
            raise ConfigError(
                [Problem(source, f"not well-formed OPML: {exc.msg}", line, column + 1)]
            ) from exc
    if root.tag != "opml":
        raise ConfigError([Problem(source, f"not an OPML file: the root is <{root.tag}>")])
    found = root.find("body")
    if found is None:
        raise ConfigError([Problem(source, "an OPML file without a <body>")])
    head_title = root.findtext("head/title") or ""
    out = OpmlList(head_title.strip(), repaired=repaired)
    seen: dict[str, int] = {}
    for outline, folders in _outlines(found, ()):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url:
            if not len(outline):  # a leaf without a feed URL: a site, an include
                out.skipped += 1
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            out.skipped += 1
            continue
        title = (outline.get("title") or outline.get("text") or "").strip() or parts.netloc
        tags = tuple(dict.fromkeys([*folders, *_categories(outline.get("category") or "")]))
        if url in seen:  # the same feed in two folders: one feed with both tags
            index = seen[url]
            kept = out.feeds[index]
            merged = tuple(dict.fromkeys([*kept.tags, *tags]))
            out.feeds[index] = Subscription(kept.url, kept.title, merged)
            continue
        seen[url] = len(out.feeds)
        out.feeds.append(Subscription(url, title, tags))
    return out


def _outlines(
    parent: ET.Element, folders: tuple[str, ...]
) -> Iterator[tuple[ET.Element, tuple[str, ...]]]:
    for outline in parent.findall("outline"):
        yield outline, folders
        if len(outline):
            name = (outline.get("text") or outline.get("title") or "").strip()
            yield from _outlines(outline, (*folders, name) if name else folders)


def _categories(value: str) -> list[str]:
    tags: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if item.startswith("/"):  # a hierarchy: /parent/child
            tags.extend(part.strip() for part in item.split("/") if part.strip())
        elif item:
            tags.append(item)
    return tags


def feed_name(title: str, url: str, taken: set[str]) -> str:
    """A config name for a feed (letters, digits, ``. - _`` and spaces, at most 100), unique
    among ``taken`` (which it joins)."""
    spoken = title.replace("'", "").replace("’", "")  # John's -> Johns, not "John s"
    base = " ".join(_NAME_CHARS.sub(" ", spoken).split())[:90].strip(" .-")
    if not base:
        base = urlsplit(url).netloc.replace(":", "-") or "feed"
    name, n = base, 2
    while name.lower() in {t.lower() for t in taken}:
        name = f"{base} {n}"
        n += 1
    taken.add(name)
    return name


def write(feeds: Sequence[tuple[str, str, Sequence[str]]], title: str, created: datetime) -> str:
    """OPML 2.0 of (title, url, tags) feeds: a folder per first tag (as readers show them),
    every tag in ``category``."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(created)
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for name, url, tags in feeds:
        parent = body
        if tags:
            parent = folders.get(tags[0]) or folders.setdefault(
                tags[0], ET.SubElement(body, "outline", text=tags[0], title=tags[0])
            )
        attributes = {"type": "rss", "text": name, "title": name, "xmlUrl": url}
        if tags:
            attributes["category"] = ",".join(tags)
        ET.SubElement(parent, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
