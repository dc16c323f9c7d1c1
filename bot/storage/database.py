"""The database connection, its transactions and schema migrations (edge: SQLAlchemy Core).

:class:`Database` is the base of every storage part (:mod:`bot.storage.feeds`,
:mod:`~bot.storage.stories`, :mod:`~bot.storage.chats`, :mod:`~bot.storage.subscriptions`,
:mod:`~bot.storage.deliveries`): it owns the engine, opens transactions, and turns database
errors into :class:`StorageError` naming what failed, without a password.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Table, event, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.core.errors import StorageError
from bot.storage import schema as s

log = logging.getLogger(__name__)

CHUNK = 400
"""Rows per multi-row statement: far below SQLite's bound-parameter limit."""
CONNECT_TIMEOUT = 5.0
"""Seconds allowed to open a PostgreSQL connection."""
MIGRATION_LOCK = 0x6E657773626F74
"""The PostgreSQL advisory lock key held while the schema changes ("newsbot" in ASCII)."""


class Database:
    """Async access to the database. Create with :meth:`open`, release with :meth:`close`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    async def open(cls, url: str) -> Self:
        """Connect to ``url`` (an async SQLAlchemy URL) and bring the schema up to date."""
        try:
            if url.startswith("sqlite"):
                database = make_url(url).database
                if database and database != ":memory:":
                    _create_private(Path(database))
                # A few kept connections: opening one (a thread, four PRAGMAs) per transaction
                # cost more than the work of a poll that found nothing new. SQLite still
                # admits one writer at a time; busy_timeout makes the others wait their turn.
                engine = create_async_engine(
                    url, pool_size=4, max_overflow=4, pool_timeout=60, pool_pre_ping=False
                )
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            else:
                engine = create_async_engine(
                    url,
                    pool_size=5,
                    max_overflow=5,
                    pool_pre_ping=True,
                    # A server that does not answer fails a connect in seconds (the default
                    # is a minute): the outage is noticed and retried with backoff.
                    connect_args={"timeout": CONNECT_TIMEOUT},
                )
            store = cls(engine)
            await store._migrate()
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"cannot open database {safe_url(url)}: {reason(exc)}") from exc
        return store

    async def close(self) -> None:
        await self._engine.dispose()

    async def _migrate(self) -> None:
        """Create or upgrade the schema in one transaction. On PostgreSQL it holds a
        transaction-level advisory lock (which, unlike a session lock, also works through
        transaction-pooling proxies): instances starting together take turns, and all but the
        first find the schema current. DDL is transactional there, so a failed migration
        leaves the previous version intact."""
        async with self._engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            await self._upgrade(conn)

    async def _upgrade(self, conn: AsyncConnection) -> None:
        has_table = await conn.run_sync(lambda c: c.dialect.has_table(c, s.schema_migrations.name))
        if not has_table:
            await conn.run_sync(s.create_latest)
            log.info("created database schema version %d", s.SCHEMA_VERSION)
            return
        current = (await conn.execute(select(func.max(s.schema_migrations.c.version)))).scalar()
        current = current or 0
        if current > s.SCHEMA_VERSION:
            raise StorageError(
                f"database schema version {current} is newer than this bot ({s.SCHEMA_VERSION}); "
                "upgrade newsbot"
            )
        for version, migration in s.MIGRATIONS:
            if version <= current:
                continue
            await conn.run_sync(migration)
            await conn.execute(
                insert(s.schema_migrations), {"version": version, "applied_at": now_utc()}
            )
            log.info("migrated database to schema version %d", version)

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
                yield conn
        except (DBAPIError, OSError) as exc:
            # OSError: the server cannot be reached at all (asyncpg's connect raises it
            # unwrapped: connection refused, time-out, no route).
            raise StorageError(f"database error: {reason(exc) or type(exc).__name__}") from exc

    async def schema_version(self) -> int:
        async with self._tx() as conn:
            return int(
                (await conn.execute(select(func.max(s.schema_migrations.c.version)))).scalar() or 0
            )

    def _insert_ignore(self, table: Table, conflict: list[str]) -> Any:
        """INSERT that skips rows conflicting on ``conflict`` (in either dialect)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict)
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict)


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds who follows what); SQLite
    gives its journal files the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def now_utc() -> datetime:
    return datetime.now(UTC)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; busy_timeout waits for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}" if ":" in creds else url
    return url


def reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).splitlines()[0]
