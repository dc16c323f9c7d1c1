"""Tests of the loopback feed server, the feed builders and the copied feed corpus."""

from __future__ import annotations

import csv
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import feedparser
import httpx
import pytest

from tests.fakes import feedgen
from tests.fakes.feed_server import (
    MB,
    Delay,
    Drop,
    FeedServer,
    Garbage,
    Gzip,
    GzipBomb,
    Headers,
    HugeBody,
    Redirect,
    SlowDrip,
    Status,
)
from tests.fakes.feedgen import Item

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "feeds"
FEEDPARSER = DATA / "feedparser"

BODY = feedgen.rss([Item("Bayraktar TB2 over Karabakh", "https://example.invalid/a")])


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


# --------------------------------------------------------------------------------------------
# Plain serving, validators, recording


def test_serves_feed_and_records_requests(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY, headers={"Cache-Control": "max-age=60"})
    before = time.monotonic()
    r = client.get(server.url("/rss?x=1"), headers={"User-Agent": "newsbot-test/1"})
    assert r.status_code == 200
    assert r.content == BODY
    assert r.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert r.headers["cache-control"] == "max-age=60"
    assert r.headers["etag"] == server.etag("/rss")
    assert r.headers["last-modified"] == server.last_modified("/rss")

    [req] = server.requests("/rss")
    assert (req.method, req.path, req.target, req.query) == ("GET", "/rss", "/rss?x=1", "x=1")
    assert req.headers["User-Agent"] == req.headers["user-agent"] == "newsbot-test/1"
    assert "ACCEPT-ENCODING" in req.headers
    assert req.headers.get("If-None-Match") is None
    assert before <= req.time <= time.monotonic()
    assert server.hits("/rss") == 1
    assert server.responses("/rss") == [200]
    assert client.get(server.url("/nothing")).status_code == 404
    assert server.responses("/nothing") == [404]


def test_headers_are_case_insensitive() -> None:
    headers = Headers([("If-None-Match", '"a"'), ("X-Dup", "1"), ("x-dup", "2")])
    assert headers["if-none-match"] == headers["IF-NONE-MATCH"] == '"a"'
    assert headers.get("X-DUP") == "1, 2"
    assert headers.get("missing", "d") == "d"
    assert isinstance(headers, dict)


def test_etag_round_trip(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY, last_modified=False)
    first = client.get(server.url("/rss"))
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong, quoted
    assert etag.endswith('"')
    assert "last-modified" not in first.headers

    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(server.url("/rss"), headers={"If-None-Match": value})
        assert again.status_code == 304, value
        assert again.content == b""
        assert again.headers["etag"] == etag
    assert client.get(server.url("/rss"), headers={"If-None-Match": '"nope"'}).status_code == 200
    assert server.responses("/rss") == [200, 304, 304, 304, 304, 200]
    assert server.requests("/rss")[1].headers["if-none-match"] == etag


def test_last_modified_round_trip(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY, etag=False)
    first = client.get(server.url("/rss"))
    assert "etag" not in first.headers
    stamp = first.headers["last-modified"]
    assert stamp.endswith(" GMT")

    again = client.get(server.url("/rss"), headers={"If-Modified-Since": stamp})
    assert again.status_code == 304
    assert again.content == b""
    later = format_datetime(parsedate_to_datetime(stamp) + timedelta(hours=1), usegmt=True)
    assert client.get(server.url("/rss"), headers={"If-Modified-Since": later}).status_code == 304
    earlier = format_datetime(parsedate_to_datetime(stamp) - timedelta(seconds=1), usegmt=True)
    assert client.get(server.url("/rss"), headers={"If-Modified-Since": earlier}).status_code == 200
    bogus = client.get(server.url("/rss"), headers={"If-Modified-Since": "yesterday"})
    assert bogus.status_code == 200
    assert server.responses("/rss") == [200, 304, 304, 200, 200]


def test_pinned_modification_time(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY, modified_at=datetime(2020, 10, 6, 9, 30, tzinfo=UTC))
    r = client.get(server.url("/rss"))
    assert r.headers["last-modified"] == "Tue, 06 Oct 2020 09:30:00 GMT"


def test_if_none_match_takes_precedence(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY)
    stamp = client.get(server.url("/rss")).headers["last-modified"]
    r = client.get(
        server.url("/rss"), headers={"If-None-Match": '"stale"', "If-Modified-Since": stamp}
    )
    assert r.status_code == 200


def test_body_change_invalidates_validators(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY)
    first = client.get(server.url("/rss"))
    etag, stamp = first.headers["etag"], first.headers["last-modified"]

    server.set_feed("/rss", BODY)  # same bytes: validators unchanged
    assert (server.etag("/rss"), server.last_modified("/rss")) == (etag, stamp)

    new_body = feedgen.rss([Item("Changed", "https://example.invalid/b")])
    server.set_feed("/rss", new_body)  # within the same second: still moves
    assert server.etag("/rss") != etag
    new_stamp = server.last_modified("/rss")
    assert new_stamp is not None
    assert parsedate_to_datetime(new_stamp) > parsedate_to_datetime(stamp)

    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": stamp}):
        r = client.get(server.url("/rss"), headers=headers)
        assert r.status_code == 200
        assert r.content == new_body
    assert server.responses("/rss") == [200, 200, 200]


def test_head(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY)
    r = client.head(server.url("/rss"))
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(BODY))
    assert server.requests("/rss")[0].method == "HEAD"


# --------------------------------------------------------------------------------------------
# Hostile behaviours


@pytest.mark.parametrize(
    ("code", "headers"),
    [
        (500, {}),
        (404, {}),
        (410, {}),
        (429, {"Retry-After": "120"}),
        (503, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}),
    ],
)
def test_status(
    server: FeedServer, client: httpx.Client, code: int, headers: dict[str, str]
) -> None:
    server.set_feed("/rss", BODY)
    server.set_behavior("/rss", Status(code, "go away", headers=headers))
    r = client.get(server.url("/rss"))
    assert r.status_code == code
    assert r.text == "go away"
    for name, value in headers.items():
        assert r.headers[name] == value
    assert server.responses("/rss") == [code]


def test_behavior_for_a_number_of_requests(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY)
    server.set_behavior("/rss", Status(503, headers={"Retry-After": "1"}), times=2)
    codes = [client.get(server.url("/rss")).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    server.set_behavior("/rss", Status(500))
    server.set_behavior("/rss", None)
    assert client.get(server.url("/rss")).status_code == 200


def test_delay_triggers_client_timeout(server: FeedServer) -> None:
    server.set_feed("/rss", BODY)
    server.set_behavior("/rss", Delay(5.0))
    started = time.monotonic()
    with httpx.Client(timeout=0.3) as c, pytest.raises(httpx.ReadTimeout):
        c.get(server.url("/rss"))
    assert time.monotonic() - started < 2.0

    server.set_behavior("/slow-ok", Delay(0.2, then=Status(500)))
    started = time.monotonic()
    with httpx.Client(timeout=2.0) as c:
        assert c.get(server.url("/slow-ok")).status_code == 500
    assert time.monotonic() - started >= 0.2


def test_slow_drip_defeats_read_timeout(server: FeedServer) -> None:
    body = b"<rss>" + b" " * 4000 + b"</rss>"
    server.set_feed("/rss", body)
    server.set_behavior("/rss", SlowDrip(chunk_size=20, interval=0.05))  # ~10 s in total
    received = 0
    started = time.monotonic()
    with (
        httpx.Client(timeout=httpx.Timeout(0.5)) as c,
        c.stream("GET", server.url("/rss")) as r,
    ):
        assert r.headers["content-length"] == str(len(body))
        for chunk in r.iter_raw():
            received += len(chunk)
            if time.monotonic() - started > 1.0:
                break  # a total deadline is the only thing that stops a drip
    elapsed = time.monotonic() - started
    assert 1.0 < elapsed < 3.0
    assert 0 < received < len(body)


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirect(server: FeedServer, client: httpx.Client, code: int) -> None:
    server.set_feed("/new", BODY)
    server.set_behavior("/old", Redirect("/new", code=code))
    r = client.get(server.url("/old"), follow_redirects=True)
    assert r.status_code == 200
    assert r.url.path == "/new"
    assert [h.status_code for h in r.history] == [code]
    assert r.history[0].headers["location"] == server.url("/new")
    assert server.responses("/old") == [code]
    assert server.hits("/new") == 1


def test_redirect_loop(server: FeedServer, client: httpx.Client) -> None:
    server.set_behavior("/a", Redirect("/b", code=301))
    server.set_behavior("/b", Redirect("/a", code=302))
    server.set_behavior("/self", Redirect("/self"))
    for path in ("/a", "/self"):
        with pytest.raises(httpx.TooManyRedirects):
            client.get(server.url(path), follow_redirects=True)
    assert server.hits("/a") + server.hits("/b") == client.max_redirects + 1


def test_gzip_is_decoded_by_httpx(server: FeedServer, client: httpx.Client) -> None:
    body = feedgen.rss([Item(f"Story {n}", f"https://example.invalid/{n}") for n in range(200)])
    server.set_feed("/rss", body)
    server.set_behavior("/rss", Gzip())
    r = client.get(server.url("/rss"))
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == body
    assert r.num_bytes_downloaded < len(body) // 4
    etag = r.headers["etag"]
    assert client.get(server.url("/rss"), headers={"If-None-Match": etag}).status_code == 304


def test_gzip_bomb_is_a_valid_small_stream(server: FeedServer, client: httpx.Client) -> None:
    server.set_behavior("/bomb", GzipBomb(megabytes=3))
    r = client.get(server.url("/bomb"))  # small enough to inflate entirely (checks CRC, size)
    assert r.num_bytes_downloaded < 10_000
    assert r.content.startswith(b'<?xml version="1.0"')
    assert r.content.endswith(b" " * 1000)
    assert len(r.content) - r.content.index(b"<title>") - len(b"<title>") == 3 * MB


def test_gzip_bomb_bounded_read(server: FeedServer, client: httpx.Client) -> None:
    """Stream a 100 MiB bomb and stop after 10 MiB inflated, with little memory.

    httpx's own decoder inflates each 64 KiB network read without a bound (one read of this
    stream can become ~64 MiB), so a safe reader takes the raw bytes and inflates them with
    ``max_length``.
    """
    server.set_behavior("/bomb", GzipBomb(megabytes=100))
    limit = 10 * MB
    inflated = 0
    tracemalloc.start()
    try:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        with client.stream("GET", server.url("/bomb")) as r:
            assert r.headers["content-encoding"] == "gzip"
            assert int(r.headers["content-length"]) < 200_000
            for raw in r.iter_raw(16 * 1024):
                pending = raw
                while pending and inflated < limit:
                    inflated += len(inflater.decompress(pending, 256 * 1024))
                    pending = inflater.unconsumed_tail
                if inflated >= limit:
                    break
            downloaded = r.num_bytes_downloaded
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert inflated >= limit
    assert downloaded < 200_000
    assert peak < 4 * MB


@pytest.mark.parametrize("chunked", [True, False])
def test_huge_body_framing(server: FeedServer, client: httpx.Client, chunked: bool) -> None:
    server.set_behavior("/huge", HugeBody(megabytes=1, chunked=chunked))
    r = client.get(server.url("/huge"))
    assert "content-length" not in r.headers
    assert (r.headers.get("transfer-encoding") == "chunked") is chunked
    assert len(r.content) == MB
    assert r.content.startswith(b'<?xml version="1.0"')


@pytest.mark.parametrize("chunked", [True, False])
def test_huge_body_stream_abort(server: FeedServer, client: httpx.Client, chunked: bool) -> None:
    server.set_behavior("/huge", HugeBody(megabytes=500, chunked=chunked))
    received = 0
    started = time.monotonic()
    with client.stream("GET", server.url("/huge")) as r:
        assert "content-length" not in r.headers
        for chunk in r.iter_bytes():
            received += len(chunk)
            if received > 5 * MB:
                break
    assert 5 * MB < received < 10 * MB
    assert time.monotonic() - started < 3.0
    assert server.responses("/huge") == [200]


def test_drop_without_answer(server: FeedServer, client: httpx.Client) -> None:
    server.set_behavior("/drop", Drop())
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url("/drop"))
    assert server.hits("/drop") == 1
    assert server.responses("/drop") == []


def test_drop_mid_body(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/rss", BODY)
    server.set_behavior("/rss", Drop(partial=True))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url("/rss"))
    assert server.responses("/rss") == [200]


def test_drop_with_reset(server: FeedServer, client: httpx.Client) -> None:
    server.set_behavior("/rst", Drop(reset=True))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(server.url("/rst"))


def test_garbage(server: FeedServer, client: httpx.Client) -> None:
    server.set_behavior("/junk", Garbage(size=4096, seed=7))
    first = client.get(server.url("/junk"))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/rss+xml")
    assert len(first.content) == 4096
    assert client.get(server.url("/junk")).content == first.content
    parsed = feedparser.parse(first.content)
    assert parsed.bozo
    assert parsed.entries == []


def test_stop_is_fast_with_requests_in_flight() -> None:
    srv = FeedServer().start()
    srv.set_behavior("/wait", Delay(30.0))
    srv.set_behavior("/drip", SlowDrip(chunk_size=1, interval=1.0, body=b"x" * 100))
    errors: list[BaseException] = []

    def fetch(path: str) -> None:
        try:
            with httpx.Client(timeout=10.0) as c:
                c.get(srv.url(path))
        except httpx.HTTPError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(p,)) for p in ("/wait", "/drip")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 2.0
    while srv.hits("/wait") + srv.hits("/drip") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 1.0
    for t in threads:
        t.join(timeout=2.0)
        assert not t.is_alive()
    assert len(errors) == 2
    with pytest.raises(RuntimeError):
        srv.url("/wait")


# --------------------------------------------------------------------------------------------
# feedgen

DT = datetime(2020, 10, 6, 9, 30, tzinfo=timezone(timedelta(hours=4)))
ITEMS = [
    Item(
        "Drones & <artillery> near Shusha",
        "https://example.invalid/news?id=1&lang=en",
        guid="urn:uuid:1",
        summary='<p>Strike <b>confirmed</b><script>alert("x")</script></p>',
        content="<p>Full <i>text</i></p>",
        published=DT,
        author="desk@example.invalid (News desk)",
        categories=("war", "Azerbaijan"),
    ),
    Item("No date, no guid", "https://example.invalid/news?id=2"),
    Item("Naive date", "https://example.invalid/3", published=datetime(2021, 1, 2, 3, 4, 5)),
]


def _entries(doc: bytes) -> Any:
    parsed = feedparser.parse(doc)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


@pytest.mark.parametrize("build", [feedgen.rss, feedgen.atom])
def test_feedgen_parses(build: Any) -> None:
    parsed = _entries(build(ITEMS, title="Caucasus & co"))
    assert parsed.version == ("rss20" if build is feedgen.rss else "atom10")
    assert parsed.feed.title == "Caucasus & co"
    first, second, third = parsed.entries
    assert first.title == "Drones & <artillery> near Shusha"
    assert first.link == "https://example.invalid/news?id=1&lang=en"
    assert first.id == "urn:uuid:1"
    assert first.published_parsed[:6] == (2020, 10, 6, 5, 30, 0)  # normalised to UTC
    assert first.summary == "<p>Strike <b>confirmed</b></p>"  # HTML, sanitized by feedparser
    assert first.content[0].value == "<p>Full <i>text</i></p>"
    assert first.author == "desk@example.invalid (News desk)"
    assert [t.term for t in first.tags] == ["war", "Azerbaijan"]
    assert second.title == "No date, no guid"
    assert second.link == "https://example.invalid/news?id=2"
    assert "published_parsed" not in second
    assert third.published_parsed[:6] == (2021, 1, 2, 3, 4, 5)


def test_feedgen_rss_details() -> None:
    doc = feedgen.rss(ITEMS[:1], ttl=30, language="az")
    assert b"<pubDate>Tue, 06 Oct 2020 09:30:00 +0400</pubDate>" in doc
    assert b'<guid isPermaLink="false">urn:uuid:1</guid>' in doc
    assert b"&lt;script&gt;" in doc
    assert b"<script" not in doc
    parsed = _entries(doc)
    assert parsed.feed.ttl == "30"
    assert parsed.feed.language == "az"
    assert "id" not in _entries(feedgen.rss(ITEMS[1:2])).entries[0]


def test_feedgen_atom_details() -> None:
    doc = feedgen.atom(ITEMS)
    assert b'<feed xmlns="http://www.w3.org/2005/Atom">' in doc
    assert b"<published>2020-10-06T09:30:00+04:00</published>" in doc
    assert b"<published>2021-01-02T03:04:05Z</published>" in doc
    assert _entries(doc).feed.updated == "2021-01-02T03:04:05Z"
    assert _entries(doc).entries[1].id == "https://example.invalid/news?id=2"
    assert feedgen.rfc3339(datetime(2020, 1, 1, tzinfo=UTC)) == "2020-01-01T00:00:00Z"
    assert feedgen.rfc822(datetime(2020, 1, 1)) == "Wed, 01 Jan 2020 00:00:00 +0000"


def test_feedgen_rejects_unrepresentable_text() -> None:
    with pytest.raises(ValueError):
        feedgen.rss([Item("bell\x07", "https://example.invalid/")])


def test_feedgen_served_and_fetched(server: FeedServer, client: httpx.Client) -> None:
    server.set_feed("/atom", feedgen.atom(ITEMS), content_type="application/atom+xml")
    parsed = _entries(client.get(server.url("/atom")).content)
    assert [e.title for e in parsed.entries][1:] == ["No date, no guid", "Naive date"]


# --------------------------------------------------------------------------------------------
# Copied corpus


def _manifest() -> list[dict[str, str]]:
    with open(FEEDS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


MANIFEST = _manifest()


def test_manifest_matches_directory() -> None:
    on_disk = {p.name for p in FEEDS.iterdir() if p.name != "MANIFEST.tsv"}
    assert on_disk == {row["local_name"] for row in MANIFEST}
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    licenses = {p.name for p in (DATA / "licenses").iterdir()}
    for row in MANIFEST:
        assert f"`feeds/{row['local_name']}`" in sources
        assert row["commit"] in sources
    for name in licenses:
        assert f"licenses/{name}" in sources
    allowed = ("MIT", "Apache-2.0", "BSD", "Unlicense")
    assert all(row["license"].startswith(allowed) for row in MANIFEST)


@pytest.mark.parametrize("row", MANIFEST, ids=[row["local_name"] for row in MANIFEST])
def test_copied_feed_parses(row: dict[str, str]) -> None:
    data = (FEEDS / row["local_name"]).read_bytes()
    assert len(data) == int(row["bytes"])
    parsed = feedparser.parse(data)
    if row["entries"]:
        assert len(parsed.entries) == int(row["entries"])
    if row["feedparser_version"]:
        assert parsed.version == row["feedparser_version"].replace("?", "")


def _feedparser_index() -> list[dict[str, str]]:
    with open(FEEDPARSER / "INDEX.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


class _MarkupAudit(HTMLParser):
    DANGEROUS: ClassVar[frozenset[str]] = frozenset(
        {"script", "iframe", "object", "embed", "applet", "frame", "meta", "link", "style"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.DANGEROUS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"{tag}[{name}]")


def _texts(parsed: Any) -> Iterator[str]:
    for key in ("title", "subtitle", "rights", "info"):
        if isinstance(parsed.feed.get(key), str):
            yield parsed.feed[key]
    for entry in parsed.entries:
        for key in ("title", "summary", "description"):
            if isinstance(entry.get(key), str):
                yield entry[key]
        for content in entry.get("content", []):
            yield content.value


def test_feedparser_subset_survives() -> None:
    index = _feedparser_index()
    assert len(index) >= 50
    on_disk = {str(p.relative_to(FEEDPARSER)) for p in FEEDPARSER.rglob("*.xml")}
    assert on_disk == {row["path"] for row in index}
    sanitize = 0
    for row in index:
        parsed = feedparser.parse((FEEDPARSER / row["path"]).read_bytes())
        if "/sanitize/" in row["path"]:
            sanitize += 1
            audit = _MarkupAudit()
            for text in _texts(parsed):
                audit.feed(text)
                audit.close()
            assert audit.problems == [], row["path"]
    assert sanitize >= 20
