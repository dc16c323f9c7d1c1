"""Finding a site's feeds on its pages: the ``<link rel="alternate">`` elements that advertise
RSS, Atom or JSON Feed (for ``newsbot feeds add URL``). Pure: the caller fetches the page.

What counts (as feed readers do it): every ``<link>``, in ``<head>`` or ``<body>``, whose
``rel`` holds ``alternate`` and whose type is ``application/rss+xml``, ``application/atom+xml``,
``application/feed+json`` or ``application/json`` (the old JSON Feed type; WordPress's
``/wp-json/`` REST links are not feeds); hrefs resolved against ``<base href>`` (itself resolved
against the page) or the page's URL; an empty href skipped; each URL once, in document order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

FEED_TYPES = {
    "application/rss+xml": "RSS",
    "application/atom+xml": "Atom",
    "application/feed+json": "JSON Feed",
    "application/json": "JSON Feed",
    "application/rdf+xml": "RDF",
}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Advertised:
    """A feed a page advertises."""

    url: str
    kind: str
    """RSS, Atom, JSON Feed or RDF."""
    title: str = ""


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[tuple[str, str, str]] = []
        """(href, type, title) of the alternate links, in order."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and self.base is None and values.get("href", "").strip():
            self.base = values["href"].strip()
        elif tag == "link":
            rel = values.get("rel", "").lower().split()
            if "alternate" in rel:
                kind = values.get("type", "").split(";")[0].strip().lower()
                self.links.append((values.get("href", "").strip(), kind, values.get("title", "")))

    handle_startendtag = handle_starttag


_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)


def is_html(body: bytes, content_type: str | None) -> bool:
    """A web page rather than a feed: served as HTML, or starting like one."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return True
    return bool(_HTML_START.match(body[:2048].lstrip(b"\xef\xbb\xbf")))


def decode_page(body: bytes, content_type: str | None = None) -> str:
    """A page's text: the charset its Content-Type or ``<meta>`` declares, else UTF-8 (bytes
    that do not decode are replaced)."""
    charset = None
    if content_type:
        found = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
        charset = found.group(1) if found else None
    if charset is None:
        meta = _CHARSET.search(body[:4096])
        charset = meta.group(1).decode("ascii") if meta else None
    for name in (charset, "utf-8"):
        if name:
            try:
                return body.decode(name, errors="replace")
            except LookupError:
                continue
    return body.decode("utf-8", errors="replace")


def advertised_feeds(page: str, page_url: str) -> list[Advertised]:
    """The feeds ``page`` (fetched from ``page_url``) advertises; see the module docstring."""
    parser = _Links()
    parser.feed(page)
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    out: list[Advertised] = []
    seen: set[str] = set()
    for href, kind, title in parser.links:
        if kind not in FEED_TYPES or not href:
            continue
        url = urljoin(base, href)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            continue
        if kind == "application/json" and "/wp-json/" in parts.path:
            continue  # the WordPress REST API, not a feed
        if url in seen:
            continue
        seen.add(url)
        out.append(Advertised(url, FEED_TYPES[kind], " ".join(title.split())))
    return out
