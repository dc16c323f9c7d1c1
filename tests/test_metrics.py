"""/metrics, /healthz and /readyz of a running bot, scraped over loopback: the counters move
with polls and sends, no chat or user id appears, and /readyz fails while the SQLite file is
locked by another process, or while PostgreSQL cannot be reached (a loopback proxy to the real
server, cut and restored), and recovers after."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.app import App, Options
from bot.config import load_config
from tests.e2e_support import LOCKER, OTHER_USER, RULES, MakeApp, item, running, seeded
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


class Proxy:
    """A loopback TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones
    refused) and restored on the same port: the database unreachable, for real."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_readiness_fails_while_postgresql_is_unreachable_and_recovers(
    write_config: Callable[..., Path],
    feed_server: FeedServer,
    fake: FakeTelegram,
    db_url: str,
) -> None:
    url = make_url(db_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    stories = [item(0, "Quiet")]
    feed_server.set_feed("/news.xml", rss(stories))
    config = write_config(
        f"telegram:\n  token: '{fake.token}'\n  api_url: {fake.base_url}\n  poll_timeout: 1s\n"
        f"storage:\n  url: {proxied}\n  outage_notice: 1h\n"
        "polling:\n  interval: 1s\n  min_interval: 1s\n  timeout: 2s\n  jitter: 0\n"
        "observability:\n  listen: 127.0.0.1:0\n"
        f"feeds:\n  - {{name: news, url: '{feed_server.url('/news.xml')}'}}\n",
        RULES,
    )
    app = await App.create(load_config(config), Options(parse_workers=1))
    try:
        await app.store.subscribe(str(OTHER_USER), "karabakh", datetime.now(UTC))
        async with running(app):
            await seeded(app)
            assert app.endpoints is not None
            port = app.endpoints.port
            assert (await get(port, "/readyz")).status_code == 200
            await proxy.cut()
            stories.append(item(1, "Nagorno-Karabakh: published while the database is away"))
            feed_server.set_feed("/news.xml", rss(stories))
            unready = None
            for _ in range(60):
                answer = await get(port, "/readyz")
                if answer.status_code == 503:
                    unready = answer.text
                    break
                await asyncio.sleep(0.25)
            assert unready is not None and "Database unavailable" in unready, unready
            assert value((await get(port, "/metrics")).text, "newsbot_database_up") == 0
            assert (await get(port, "/healthz")).status_code == 200
            await asyncio.sleep(2)
            await proxy.start()  # the same port again
            for _ in range(100):
                if (await get(port, "/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert (await get(port, "/readyz")).status_code == 200
            await fake.wait_for_async(lambda: len(fake.messages_to(OTHER_USER)) == 1, 30)
        assert "published while the database is away" in fake.messages_to(OTHER_USER)[0].text
    finally:
        await app.close()
        await proxy.cut()
