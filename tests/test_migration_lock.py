"""Instances started at the same moment on one PostgreSQL database migrate it once, without
errors: the schema is created or upgraded under a transaction-level advisory lock. Separate
processes, the real server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage import Store, schema
from tests.conftest import PG_URL, _reset_postgres

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG_URL, reason="NEWSBOT_TEST_DATABASE_URL not set"),
]

OPEN = textwrap.dedent(
    """
    import asyncio, logging, sys, time
    from sqlalchemy import text
    from bot.storage import Store, schema

    logging.basicConfig(level=logging.INFO)
    url, start, upgrade = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
    if upgrade:  # the next release: one more schema version and its migration
        def add_note(connection):
            connection.execute(text("ALTER TABLE subscriptions ADD COLUMN note TEXT"))
        version = schema.SCHEMA_VERSION + 1
        schema.SCHEMA_VERSION = version
        schema.MIGRATIONS = [*schema.MIGRATIONS, (version, add_note)]

    async def main():
        while time.time() < start:
            await asyncio.sleep(0.001)
        store = await Store.open(url)
        print(await store.schema_version())
        await store.close()

    asyncio.run(main())
    """
)


def start_together(count: int, upgrade: bool) -> list[subprocess.CompletedProcess[str]]:
    start = time.time() + 3  # the interpreters are up and waiting by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, PG_URL, str(start), "1" if upgrade else "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


async def versions() -> list[int]:
    engine = create_async_engine(PG_URL)
    async with engine.begin() as conn:
        rows = (await conn.execute(text("SELECT version FROM schema_migrations"))).all()
    await engine.dispose()
    return sorted(row[0] for row in rows)


async def test_instances_starting_together_on_an_empty_database_create_it_once() -> None:
    await _reset_postgres(PG_URL)
    results = start_together(4, upgrade=False)
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.strip() == str(schema.SCHEMA_VERSION)
    assert await versions() == [schema.SCHEMA_VERSION]
    created = sum("created database schema" in r.stderr for r in results)
    assert created == 1, [r.stderr[-300:] for r in results]


async def test_instances_upgrading_together_migrate_once() -> None:
    await _reset_postgres(PG_URL)
    store = await Store.open(PG_URL)
    await store.close()
    results = start_together(4, upgrade=True)
    for r in results:
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.strip() == str(schema.SCHEMA_VERSION + 1)
    assert await versions() == [schema.SCHEMA_VERSION, schema.SCHEMA_VERSION + 1]
