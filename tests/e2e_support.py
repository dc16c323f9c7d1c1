"""Support for the end-to-end tests: the people and chats of the fake Telegram, an App built
from a config file pointed at the loopback servers, and helpers to run it and wait on it.
Registered as a pytest plugin in conftest.py, so its fixtures are available to every test."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App, Options
from bot.config import load_config
from bot.core.models import FeedState
from tests.fakes.feed_server import FeedServer
from tests.fakes.feedgen import Item
from tests.fakes.telegram_api import FakeTelegram

CHANNEL = -1001000
GROUP = -1002000
USER = 1001
OTHER_USER = 1002

RULES = {
    "drones.yaml": """
        rules:
          - id: drones
            title: Turkish drones
            any: [Bayraktar, "TB2", Akinci]
            notify: ["@defence_news", "-1002000"]
          - id: karabakh
            title: Karabakh
            any: [Nagorno-Karabakh, Qarabağ, Карабах]
    """
}


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("COMMIT")
    """
)
"""A script that holds an exclusive lock on the SQLite file ``argv[1]`` for ``argv[2]``
seconds, as another process would (it prints "locked" once it holds it)."""


class Clock:
    """The bot's clock: real time moved by an offset the test sets, so that the scheduler and
    the Telegram client keep working while the test jumps to the hour it needs."""

    def __init__(self, at: datetime) -> None:
        self.offset = at - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, at: datetime) -> None:
        self.offset = at - datetime.now(UTC)


def item(n: int, title: str) -> Item:
    return Item(
        title=title,
        link=f"https://news.example.invalid/{n}",
        guid=f"story-{n}",
        summary=f"Summary of story {n}",
        published=datetime(2026, 11, 24, 10, n % 60, tzinfo=UTC),
    )


@pytest.fixture
def fake(telegram: FakeTelegram) -> FakeTelegram:
    telegram.add_channel(CHANNEL, "defence_news", "Defence news", admins=[USER])
    telegram.add_group(GROUP, "Analysts", supergroup=True, admins=[USER], members=[OTHER_USER])
    telegram.add_user(USER, "Ayla")
    telegram.add_user(OTHER_USER, "Boris")
    return telegram


MakeApp = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(
    write_config: Callable[..., Path],
    feed_server: FeedServer,
    fake: FakeTelegram,
    db_url: str,
) -> AsyncIterator[MakeApp]:
    apps: list[App] = []

    async def make(
        *,
        feeds: dict[str, str] | None = None,
        token: bool = True,
        extra: str = "",
        clock: Callable[[], datetime] | None = None,
        polling: str = "",
        storage: str = "",
        telegram_extra: str = "",
    ) -> App:
        feeds = feeds or {"news": "/news.xml"}
        feed_lines = "".join(
            f"  - name: {name}\n    url: {feed_server.url(path)}\n" for name, path in feeds.items()
        )
        telegram = (
            f"telegram:\n  token: '{fake.token}'\n  api_url: {fake.base_url}\n"
            f"  poll_timeout: 1s\n  admins: [{USER}]\n{telegram_extra}"
            if token
            else ""
        )
        path = write_config(
            f"{telegram}storage:\n  url: {db_url}\n{storage}"
            "polling:\n  interval: 1s\n  min_interval: 1s\n  timeout: 2s\n  jitter: 0\n"
            f"{polling}"
            f"{extra}feeds:\n{feed_lines}",
            RULES,
        )
        options = Options(parse_workers=1, drain_budget=10)
        if clock is not None:
            options = replace(options, clock=clock)
        app = await App.create(load_config(path), options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.close()


@asynccontextmanager
async def running(app: App) -> AsyncIterator[None]:
    """The app's full run loop (scheduler, sender, Telegram updates) in the background."""
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop))
    try:
        if app.telegram is not None:
            await asyncio.wait_for(app.telegram.ready.wait(), 10)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def until(app: App, check: Callable[[FeedState], bool], *feeds: str) -> None:
    """Wait (up to 10 s) until every named feed's state passes ``check``."""
    names = feeds or tuple(app.specs)
    for _ in range(1000):
        if all((state := app.states.get(n)) is not None and check(state) for n in names):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"feeds {names}: {[app.states.get(n) for n in names]}")


async def seeded(app: App, *feeds: str) -> None:
    """Wait until the scheduler's first poll has recorded what the feeds held."""
    await until(app, lambda state: state.seeded, *feeds)


def free_port() -> int:
    """A loopback TCP port free at this moment (for a process the test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alerts_to(fake: FakeTelegram, chat: int) -> list[str]:
    return [m.plain_text for m in fake.messages_to(chat)]
