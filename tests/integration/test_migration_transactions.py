"""Each migration commits on its own, with its row in schema_migrations: a failing migration
leaves the ones before it applied, and ``applied_at`` tells when each one really ran."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import AsyncConnection

from cloud.storage import open_storage
from cloud.storage.postgres.migrations import Migration, apply_migrations
from tests.harness.postgres import fresh_database


async def test_a_failing_migration_keeps_the_ones_before_it() -> None:
    migrations = [
        Migration("0001_first", "CREATE TABLE first_table (x int)"),
        # Skipped where the extension is missing, as 0003_timescaledb is on plain PostgreSQL.
        Migration("0002_optional", "-- requires: nursery_no_such_extension\nSELECT 1"),
        Migration("0003_third", "CREATE TABLE third_table (x int)"),
        Migration("0004_broken", "SELECT 1 / 0"),
    ]
    with fresh_database() as url:
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with await AsyncConnection.connect(url) as conn:
                await apply_migrations(conn, migrations)
        with psycopg.connect(url) as conn:
            recorded = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
            tables = conn.execute("SELECT to_regclass('third_table') IS NOT NULL").fetchone()
    assert sorted(recorded) == ["0001_first", "0003_third"]
    assert tables == (True,)


async def test_every_migration_commits_in_its_own_transaction() -> None:
    with fresh_database() as url:
        store = await open_storage(url)
        try:
            applied = await store.migrate()
        finally:
            await store.close()
        with psycopg.connect(url) as conn:
            # now() is the transaction's start: one value per transaction.
            times = conn.execute("SELECT count(DISTINCT applied_at) FROM schema_migrations")
            distinct = times.fetchone()
    assert distinct == (len(applied),)
