"""Reading a feed body into :class:`Story` records (edge: feedparser).

feedparser handles every format (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF), encoding and
ill-formed XML. Its HTML sanitizer and relative-URI resolver are switched off: they are most of
its cost, and we reduce all HTML to plain text ourselves (:mod:`bot.core.htmltext`), which no
markup survives. This function is pure and picklable, so it runs in a worker process, off the
event loop.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import logging
import multiprocessing
import os
import re
import threading
import time
import unicodedata
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser

from bot.core.errors import ParseError
from bot.core.htmltext import html_to_text, strip_controls
from bot.core.models import ParsedFeed, Story

# feedparser "problems" that say nothing about the feed's health: a server that sends no or a
# generic content type, or declares one encoding in HTTP and another in XML.
_BENIGN = frozenset({"NonXMLContentType", "CharacterEncodingOverride"})

log = logging.getLogger(__name__)

_REF = rb"&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});"
_CHARREF = re.compile(_REF + b"(?:" + _REF + b")?")


def _code_point(ref: bytes) -> int:
    return int(ref[1:], 16) if ref[:1] in (b"x", b"X") else int(ref)


def _valid_code_point(value: int) -> bool:
    return 0 < value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF


def _replace_bad_charrefs(body: bytes) -> bytes:
    """Character references to code points no text can hold (lone surrogates such as
    ``&#55357;``, beyond U+10FFFF, NUL) become U+FFFD, and a surrogate pair written as two
    references becomes its character: feedparser would otherwise crash on the whole feed for
    one bad item."""
    if b"&#" not in body:
        return body

    def one(ref: bytes, whole: bytes) -> bytes:
        return whole if _valid_code_point(_code_point(ref)) else b"&#65533;"

    def fix(m: re.Match[bytes]) -> bytes:
        first, second = m.group(1), m.group(2)
        head = m.group(0) if second is None else m.group(0)[: m.start(2) - m.start(0) - 2]
        if second is not None:
            high, low = _code_point(first), _code_point(second)
            if 0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF:
                value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                return b"&#%d;" % value
            return one(first, head) + one(second, m.group(0)[len(head) :])
        return one(first, head)

    return _CHARREF.sub(fix, body)


MAX_TEXT = 20_000
"""Characters of summary or content kept per story: enough to match, bounded for memory."""


def parse_feed(feed: str, body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse ``body`` fetched from ``url``. Raises :class:`ParseError` when nothing in it can be
    read as a feed; ill-formed feeds that still yield entries are accepted with a warning."""
    # No content-location: given a base URI, feedparser runs urljoin on every link and id it
    # reads, about a third of its time with the sanitizer off; we resolve the one link per
    # story we keep ourselves (see _story), which gives the same absolute links.
    headers = {"content-type": content_type} if content_type else {}
    try:
        parsed = feedparser.parse(
            _replace_bad_charrefs(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser promises not to raise; a bug there must not kill a poll
        raise ParseError(feed, f"parser crashed: {type(exc).__name__}: {exc}") from exc
    entries = parsed.get("entries") or []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if type(problem).__name__ in _BENIGN:
        problem = None
    if not entries and problem is not None and not parsed.get("version"):
        raise ParseError(feed, f"not a feed: {_describe(problem)}")
    meta = parsed.get("feed") or {}
    language = meta.get("language") or None
    stories = []
    seen: set[str] = set()
    skipped = 0
    for entry in entries:
        try:
            story = _story(feed, entry, url, language)
        except Exception as exc:  # one bad item must not cost the feed its good ones
            skipped += 1
            log.warning(
                "feed %s: skipped an unreadable item (%s: %s)", feed, type(exc).__name__, exc
            )
            continue
        if story is None or story.key in seen:
            continue  # feeds do repeat items; the first occurrence is the one kept
        seen.add(story.key)
        stories.append(story)
    return ParsedFeed(
        stories=tuple(stories),
        title=html_to_text(meta.get("title") or "", single_line=True) or None,
        ttl=_ttl(meta.get("ttl")),
        warning=_describe(problem) if problem is not None else None,
        skipped=skipped,
    )


def _describe(problem: Any) -> str:
    text = str(problem).splitlines()[0] if str(problem) else ""
    return f"{type(problem).__name__}: {text}"[:300]


def _ttl(value: Any) -> timedelta | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return timedelta(minutes=minutes) if 0 < minutes <= 7 * 24 * 60 else None


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _text(value: Any, kind: str | None = None, *, single_line: bool = False) -> str:
    """Plain text of a feed value; markup is stripped only from values that are HTML."""
    if not isinstance(value, str):
        return ""
    if kind == "text/plain":
        value = strip_controls(value)
        text = " ".join(value.split()) if single_line else value.strip()
        return unicodedata.normalize("NFC", text)[:MAX_TEXT]
    return html_to_text(value, single_line=single_line)[:MAX_TEXT]


def _kind(entry: Any, key: str) -> str | None:
    detail = entry.get(f"{key}_detail")
    return detail.get("type") if isinstance(detail, dict) else None


def _story(feed: str, entry: Any, base_url: str, language: str | None) -> Story | None:
    title = _text(entry.get("title") or "", _kind(entry, "title"), single_line=True)[:1000]
    link = entry.get("link") or None
    if link:
        link = link.strip()
        if not link.startswith(("http://", "https://")):  # urljoin is slow; most are absolute
            link = urljoin(base_url, link)
        if not link.lower().startswith(("http://", "https://")):
            link = None  # feedparser falls back to ids such as tag: or urn: URIs
    summary = _text(entry.get("summary") or "", _kind(entry, "summary"))
    contents = [c for c in entry.get("content") or [] if isinstance(c, dict)]
    content = "\n".join(_text(c.get("value", ""), c.get("type")) for c in contents).strip()
    if content == summary:
        content = ""
    if not (title or summary or content or link):
        return None
    guid = entry.get("id") or entry.get("guid")
    if guid:
        identity = f"id:{guid}"
    elif link:
        identity = f"link:{link}"
    else:
        identity = f"text:{title}\n{summary}"
    authors = tuple(
        a
        for a in (
            html_to_text(x.get("name") or "", single_line=True)
            for x in entry.get("authors") or []
            if isinstance(x, dict)
        )
        if a
    ) or ((html_to_text(entry["author"], single_line=True),) if entry.get("author") else ())
    tags = tuple(
        t
        for t in (
            html_to_text(x.get("term") or "", single_line=True)
            for x in entry.get("tags") or []
            if isinstance(x, dict)
        )
        if t
    )
    return Story(
        feed=feed,
        key=hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:40],
        title=title or (summary[:120] if summary else link or ""),
        link=link,
        summary=summary,
        content=content,
        published=_when(entry),
        authors=authors,
        tags=tags,
        language=entry.get("language") or language,
    )


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """In a parser worker: end the process when the bot that started it is gone (even killed
    with SIGKILL, which gives it no chance to stop its workers)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class ParserPool:
    """Runs :func:`parse_feed` in worker processes so that parsing never blocks the event loop
    and uses every core. ``workers=0`` parses in a thread instead (small setups, debugging)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.parsed = 0
        """Bodies parsed so far (an unchanged feed must not add to it)."""
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            if self.workers > 0:
                # "spawn": a clean interpreter per worker; forking a process that runs threads
                # (database driver, HTTP pool) risks inheriting held locks.
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
            else:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="parse")
        return self._executor

    async def parse(self, feed: str, body: bytes, url: str, content_type: str | None) -> ParsedFeed:
        loop = asyncio.get_running_loop()
        self.parsed += 1
        try:
            return await loop.run_in_executor(
                self._pool(), parse_feed, feed, body, url, content_type
            )
        except BrokenExecutor as exc:
            # A worker died (out of memory on a hostile body, killed): start afresh next time.
            self.close()
            raise ParseError(feed, "the parser process died on this feed") from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
