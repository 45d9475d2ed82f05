"""Migrations postgres/0022 and sqlite/0018 on a database an earlier version filled: every
device starts with nothing noted as published, so each list that has a revision is sent once
more (healing any that went stale before), a list never changed (revision 0) is not; and on
PostgreSQL the sync's question is answered from the partial index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from cloud.storage.postgres.ignore_lists import _UNPUBLISHED
from cloud.storage.postgres.migrations import apply_migrations, bundled_migrations
from tests.harness.postgres import fresh_database
from tests.integration.test_migration_dead_letter_cap import _run

UNPUBLISHED = (
    "SELECT device_id, ignore_list_published_revision FROM devices"
    " WHERE ignore_list_revision > ignore_list_published_revision ORDER BY device_id"
)


async def test_postgres_lists_with_a_revision_are_unpublished_after_the_upgrade() -> None:
    with fresh_database() as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await apply_migrations(conn, [m for m in bundled_migrations() if m.version < "0022"])
            await conn.execute(
                "INSERT INTO devices (device_id, ignore_list_revision)"
                " VALUES ('dev-1', 3), ('dev-2', 0)"
            )
            # Up to 0022 only: later migrations are not this test's subject.
            applied = await apply_migrations(
                conn, [m for m in bundled_migrations() if m.version < "0023"]
            )
            assert applied == ["0022_ignore_list_published"]
            cursor = await conn.execute(UNPUBLISHED)
            assert await cursor.fetchall() == [("dev-1", 0)]

            # The storage's query can use the partial index (its predicate matches).
            await conn.execute("SET enable_seqscan = off")
            cursor = await conn.execute(b"EXPLAIN " + _UNPUBLISHED.encode(), (10,))
            plan = "\n".join(row[0] for row in await cursor.fetchall())
            assert "devices_ignore_list_unpublished" in plan, plan


def test_sqlite_lists_with_a_revision_are_unpublished_after_the_upgrade(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db")
    _run(conn, lambda number: number < "0018")
    conn.execute(
        "INSERT INTO devices (device_id, created_at, ignore_list_revision)"
        " VALUES ('dev-1', '2026-12-01T00:00:00.000000Z', 3),"
        " ('dev-2', '2026-12-01T00:00:00.000000Z', 0)"
    )
    _run(conn, lambda number: number == "0018")
    assert conn.execute(UNPUBLISHED).fetchall() == [("dev-1", 0)]
    plan = conn.execute("EXPLAIN QUERY PLAN " + UNPUBLISHED).fetchall()
    assert "devices_ignore_list_unpublished" in str(plan), plan
