"""HTML to plain text, our own and cheap: feed summaries arrive as HTML, alerts and matching
want text. Tags are dropped (block elements become line breaks), ``script``/``style`` and similar
contents are discarded, entities are decoded, whitespace is collapsed, and the result is in
Unicode NFC. No markup can survive this, which is why feedparser's own (slow) sanitizer can be
switched off."""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_SKIP = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "object",
        "svg",
        "math",
        "head",
        "title",
    ]
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_LINES = re.compile(r"\s*\n\s*")
_TAG_HINT = re.compile(r"<[A-Za-z/!]|&[#A-Za-z]")
# Control characters (C0 but the whitespace ones, DEL, C1), noncharacters, and the bidi
# embedding, override and isolate controls (which can make text read as other text): never
# text we keep, send or log.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffe\uffff\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """``text`` without control, bidi override and noncharacter code points."""
    return _CONTROL.sub("", text)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(value: str, *, single_line: bool = False) -> str:
    """Plain text of an HTML fragment (or of text that merely contains entities)."""
    if not value:
        return ""
    if _TAG_HINT.search(value):
        parser = _TextExtractor()
        parser.feed(value)
        parser.close()
        text = "".join(parser.parts)
    else:
        text = html.unescape(value)
    text = strip_controls(text)
    text = _SPACES.sub(" ", text)
    text = _LINES.sub(" " if single_line else "\n", text).strip()
    return unicodedata.normalize("NFC", text)
