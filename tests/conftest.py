"""Shared fixtures: loopback servers (feeds, Telegram Bot API), databases, config files.

No test reaches the internet: every server a test talks to is started here on 127.0.0.1.
Storage tests run on a real SQLite file, and also on PostgreSQL when NEWSBOT_TEST_DATABASE_URL
names one (CI sets it to the local server); the PostgreSQL database is emptied before each test.
"""

from __future__ import annotations

import asyncio
import os
import socket
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage import Store
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_api import FakeTelegram

pytest_plugins = ["tests.e2e_support"]

PG_URL = os.environ.get("NEWSBOT_TEST_DATABASE_URL", "")


def _worker_database(url: str, worker: str) -> str:
    """Under pytest-xdist each worker gets a database of its own (``test_gw0``, ...), created
    on first use: the tests empty their database, which must not hit the other worker's."""
    base, _, name = url.rpartition("/")
    own = f"{name}_{worker}"

    async def create() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{own}"'))
        await engine.dispose()

    asyncio.run(create())
    return f"{base}/{own}"


if PG_URL and (WORKER := os.environ.get("PYTEST_XDIST_WORKER")):
    PG_URL = _worker_database(PG_URL, WORKER)
    os.environ["NEWSBOT_TEST_DATABASE_URL"] = PG_URL  # for the processes tests start
SHARED = Path(__file__).resolve().parents[2] / "shared"
"""The workspace's shared folder (real feed corpus); tests using it skip when it is absent."""


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to connect anywhere but loopback or a Unix socket."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0]) if isinstance(address, tuple) else str(address)
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def _backends() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(not PG_URL, reason="NEWSBOT_TEST_DATABASE_URL not set"),
        )
    )
    return params


@pytest.fixture(params=_backends())
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database URL: a SQLite file, or the emptied PostgreSQL test database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'newsbot.db'}"
    else:
        await _reset_postgres(PG_URL)
        yield PG_URL


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    st = await Store.open(db_url)
    try:
        yield st
    finally:
        await st.close()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config file and a rules directory; returns the config path."""

    def write(config: str, rules: dict[str, str] | None = None) -> Path:
        rules_dir = tmp_path / "rules"
        rules_dir.mkdir(exist_ok=True)
        for name, body in (rules or {}).items():
            (rules_dir / name).write_text(textwrap.dedent(body), encoding="utf-8")
        path = tmp_path / "config.yaml"
        path.write_text(textwrap.dedent(config), encoding="utf-8")
        return path

    return write
