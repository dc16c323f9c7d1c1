"""/metrics, /healthz and /readyz of a running bot, scraped over loopback: the counters move
with polls and sends, no chat or user id appears, and /readyz fails while the SQLite file is
locked by another process and recovers after."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.e2e_support import LOCKER, OTHER_USER, MakeApp, item, running, seeded
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import rss
from tests.fakes.telegram_api import FakeTelegram


def value(text: str, name: str, labels: str = "") -> float:
    pattern = "^" + re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found is not None, f"{name}{{{labels}}} missing"
    return float(found.group(1))


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}{path}", timeout=5)


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the lock is SQLite's
async def test_metrics_move_and_readiness_follows_the_database(
    make_app: MakeApp, feed_server: FeedServer, fake: FakeTelegram, db_url: str
) -> None:
    stories = [item(0, "Quiet")]
    feed_server.set_feed("/news.xml", rss(stories))
    app = await make_app(extra="observability:\n  listen: 127.0.0.1:0\n")
    await app.store.subscribe(str(OTHER_USER), "karabakh", datetime.now(UTC))
    async with running(app):
        await seeded(app)
        assert app.endpoints is not None
        port = app.endpoints.port
        before = (await get(port, "/metrics")).text
        stories.append(item(1, "Nagorno-Karabakh: talks resume"))
        feed_server.set_feed("/news.xml", rss(stories))
        await fake.wait_for_async(lambda: len(fake.messages_to(OTHER_USER)) == 1, 15)
        after = (await get(port, "/metrics")).text
        assert value(after, "newsbot_polls_total", 'outcome="new"') >= 1
        assert value(after, "newsbot_new_stories_total") > value(
            before, "newsbot_new_stories_total"
        )
        assert value(after, "newsbot_alerts_queued_total") >= 1
        assert value(after, "newsbot_alerts_total", 'outcome="sent"') >= 1
        assert value(after, "newsbot_fetch_seconds_count") >= 2
        assert value(after, "newsbot_database_up") == 1
        assert str(OTHER_USER) not in after and "news" not in after.replace("newsbot", "")
        assert (await get(port, "/healthz")).status_code == 200
        assert (await get(port, "/readyz")).status_code == 200
        path = db_url.split("///", 1)[1]
        locker = subprocess.Popen(  # noqa: ASYNC220 - a short start, then awaited in a thread
            [sys.executable, "-c", LOCKER, path, "15"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            stories.append(item(2, "Nagorno-Karabakh: a second round"))
            feed_server.set_feed("/news.xml", rss(stories))
            unready = None
            deadline = time.monotonic() + 14
            while time.monotonic() < deadline and unready is None:
                answer = await get(port, "/readyz")
                if answer.status_code == 503:
                    unready = answer.text
                await asyncio.sleep(0.5)
            assert unready is not None and "Database unavailable" in unready
            assert value((await get(port, "/metrics")).text, "newsbot_database_up") == 0
            assert (await get(port, "/healthz")).status_code == 200  # alive all along
            await asyncio.to_thread(locker.wait, 30)
        finally:
            if locker.poll() is None:
                locker.kill()
        await fake.wait_for_async(lambda: len(fake.messages_to(OTHER_USER)) == 2, 30)
        for _ in range(100):
            if (await get(port, "/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        assert (await get(port, "/readyz")).status_code == 200
    with pytest.raises(httpx.ConnectError):
        await get(port, "/healthz")  # stopped with the bot


async def test_a_taken_port_is_a_clear_configuration_error(
    make_app: MakeApp, feed_server: FeedServer
) -> None:
    import socket

    feed_server.set_feed("/news.xml", rss([item(0, "Quiet")]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = await make_app(extra=f"observability:\n  listen: 127.0.0.1:{port}\n")
        with pytest.raises(Exception, match=rf"observability.listen 127.0.0.1:{port}"):
            async with running(app):
                await asyncio.sleep(5)
