"""Fetching over loopback against the test feed server: conditional GET, limits, errors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.core.errors import FeedError, FeedGone
from bot.feeds.fetch import Fetcher, make_client, retry_after_seconds
from tests.fakes.feed_server import (
    Delay,
    Drop,
    FeedServer,
    Garbage,
    Gzip,
    GzipBomb,
    HugeBody,
    Redirect,
    SlowDrip,
    Status,
)
from tests.fakes.feedgen import Item, rss

BODY = rss([Item(title="One", link="https://example.invalid/1")])


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(
        user_agent="newsbot-test/1",
        connect_timeout=2,
        read_timeout=1,
        max_redirects=3,
        max_connections=4,
    ) as c:
        yield c


@pytest.fixture
def fetcher(client: httpx.AsyncClient) -> Fetcher:
    return Fetcher(client, max_body=2 * 2**20, total_timeout=3)


async def test_conditional_get_round_trip(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY)
    first = await fetcher.fetch("f", feed_server.url("/f"))
    assert not first.not_modified and first.body == BODY
    assert first.etag and first.last_modified and first.body_hash
    second = await fetcher.fetch(
        "f", feed_server.url("/f"), etag=first.etag, last_modified=first.last_modified
    )
    assert second.not_modified and second.body == b""
    assert feed_server.responses("/f") == [200, 304]
    sent = feed_server.requests("/f")[1].headers
    assert sent["If-None-Match"] == first.etag
    assert sent["User-Agent"] == "newsbot-test/1"


async def test_last_modified_alone_gives_304(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY, etag=False)
    first = await fetcher.fetch("f", feed_server.url("/f"))
    assert first.etag is None and first.last_modified
    second = await fetcher.fetch("f", feed_server.url("/f"), last_modified=first.last_modified)
    assert second.not_modified


async def test_changed_body_is_fetched_again(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY)
    first = await fetcher.fetch("f", feed_server.url("/f"))
    feed_server.set_feed("/f", rss([Item(title="Two", link="https://example.invalid/2")]))
    second = await fetcher.fetch("f", feed_server.url("/f"), etag=first.etag)
    assert not second.not_modified and second.body_hash != first.body_hash


async def test_gzip_is_decoded(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY)
    feed_server.set_behavior("/f", Gzip())
    assert (await fetcher.fetch("f", feed_server.url("/f"))).body == BODY


async def test_gzip_bomb_is_cut_off_at_the_limit(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY)
    feed_server.set_behavior("/f", GzipBomb(megabytes=200))
    with pytest.raises(FeedError, match="byte limit"):
        await fetcher.fetch("f", feed_server.url("/f"))


async def test_huge_body_is_abandoned(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY)
    feed_server.set_behavior("/f", HugeBody(megabytes=50))
    with pytest.raises(FeedError, match="byte limit"):
        await fetcher.fetch("f", feed_server.url("/f"))


@pytest.mark.parametrize(
    ("behavior", "message"),
    [
        pytest.param(Status(500), "HTTP 500", id="500"),
        pytest.param(Status(404), "HTTP 404", id="404"),
        pytest.param(Delay(5), "timed out", id="timeout"),
        pytest.param(SlowDrip(chunk_size=8, interval=0.3), "timed out", id="slow-drip"),
        pytest.param(Drop(), "network error", id="dropped"),
        pytest.param(Redirect("/f"), "too many redirects", id="redirect-loop"),
    ],
)
async def test_failures_name_the_feed(
    feed_server: FeedServer, fetcher: Fetcher, behavior: object, message: str
) -> None:
    feed_server.set_feed("/f", BODY)
    feed_server.set_behavior("/f", behavior)  # type: ignore[arg-type]
    with pytest.raises(FeedError, match=message) as info:
        await fetcher.fetch("the-feed", feed_server.url("/f"))
    assert info.value.feed == "the-feed"
    assert "the-feed" in str(info.value)


async def test_gone_is_its_own_error(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY)
    feed_server.set_behavior("/f", Status(410))
    with pytest.raises(FeedGone):
        await fetcher.fetch("f", feed_server.url("/f"))


@pytest.mark.parametrize("code", [429, 503])
async def test_retry_after_is_reported(
    feed_server: FeedServer, fetcher: Fetcher, code: int
) -> None:
    feed_server.set_feed("/f", BODY)
    feed_server.set_behavior("/f", Status(code, headers={"Retry-After": "120"}))
    with pytest.raises(FeedError) as info:
        await fetcher.fetch("f", feed_server.url("/f"))
    assert info.value.retry_after == 120


async def test_permanent_redirect_reports_the_new_url(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    feed_server.set_feed("/new", BODY)
    feed_server.set_feed("/old", BODY)
    feed_server.set_behavior("/old", Redirect("/new", code=301))
    moved = await fetcher.fetch("f", feed_server.url("/old"))
    assert moved.permanent_url == feed_server.url("/new") and moved.body == BODY
    feed_server.set_behavior("/old", Redirect("/new", code=302))
    temporary = await fetcher.fetch("f", feed_server.url("/old"))
    assert temporary.permanent_url is None


async def test_garbage_is_fetched_as_bytes(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY)
    feed_server.set_behavior("/f", Garbage(size=5000))
    assert len((await fetcher.fetch("f", feed_server.url("/f"))).body) == 5000


async def test_cache_control_max_age(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.set_feed("/f", BODY, headers={"Cache-Control": "public, max-age=1800"})
    assert (await fetcher.fetch("f", feed_server.url("/f"))).max_age == timedelta(minutes=30)


async def test_connection_refused(fetcher: Fetcher) -> None:
    with pytest.raises(FeedError, match="network error"):
        await fetcher.fetch("f", "http://127.0.0.1:9/feed")


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("30", now) == 30
    assert retry_after_seconds("Tue, 24 Nov 2026 12:02:00 GMT", now) == 120
    assert retry_after_seconds("Tue, 24 Nov 2026 11:00:00 GMT", now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


async def test_keep_alive_survives_304s(
    feed_server: FeedServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most polls are answered 304: each must leave its connection reusable, or every poll
    pays for a new TCP connection."""
    feed_server.set_feed("/f", BODY)
    connects: list[object] = []
    connect = socket.socket.connect

    def counting(self: socket.socket, address: object) -> object:
        connects.append(address)
        return connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", counting)
    first = await fetcher.fetch("f", feed_server.url("/f"))
    for _ in range(5):
        again = await fetcher.fetch("f", feed_server.url("/f"), etag=first.etag)
        assert again.not_modified
    assert feed_server.responses("/f") == [200] + [304] * 5
    assert len(connects) == 1
