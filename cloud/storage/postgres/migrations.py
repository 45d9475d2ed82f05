"""Versioned SQL migrations: applied in order, each once, safe to run on every start.

Files live in ``cloud/storage/migrations/postgres/NNNN_name.sql``. A transaction-scoped advisory
lock serialises concurrent starters (two API processes booting together), and each file is
applied in its own transaction together with its row in ``schema_migrations``.

A file whose first line is ``-- requires: <extension>`` is applied only where that extension is
available; until then it is skipped and not recorded, so it is applied on the first start after
the extension is installed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from typing import Any

from psycopg import AsyncConnection

logger = logging.getLogger(__name__)

# Arbitrary but fixed: identifies "the Nursery migration lock" among advisory locks.
MIGRATION_LOCK_ID = 0x6E757273
REQUIRES_PREFIX = "-- requires:"
TIMESCALE_TABLES = ("readings", "events")


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    sql: str

    @property
    def required_extension(self) -> str | None:
        first_line = self.sql.split("\n", 1)[0]
        if first_line.startswith(REQUIRES_PREFIX):
            return first_line.removeprefix(REQUIRES_PREFIX).strip()
        return None


@dataclass(frozen=True, slots=True)
class TimescalePolicies:
    """Compression and retention of raw readings/events when TimescaleDB is present."""

    compress_after: timedelta | None = timedelta(days=7)
    retain_for: timedelta | None = timedelta(days=730)


def bundled_migrations() -> list[Migration]:
    folder = resources.files("cloud.storage").joinpath("migrations", "postgres")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text()) for entry in files]


async def _extension_available(conn: AsyncConnection[Any], name: str) -> bool:
    cursor = await conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,))
    return await cursor.fetchone() is not None


async def timescaledb_installed(conn: AsyncConnection[Any]) -> bool:
    cursor = await conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    return await cursor.fetchone() is not None


async def apply_migrations(conn: AsyncConnection[Any], migrations: list[Migration]) -> list[str]:
    applied_now: list[str] = []
    async with conn.transaction():
        # Under the lock too: CREATE TABLE IF NOT EXISTS is not safe against a concurrent
        # creator (two API processes starting at once collide on the table's type name).
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
    for migration in migrations:
        extension = migration.required_extension
        if extension is not None and not await _extension_available(conn, extension):
            logger.info(
                "skipping migration %s: extension %s unavailable", migration.version, extension
            )
            continue
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
            cursor = await conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
            )
            if await cursor.fetchone() is not None:
                continue
            logger.info("applying migration %s", migration.version)
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,)
            )
            applied_now.append(migration.version)
    return applied_now


async def apply_timescale_policies(conn: AsyncConnection[Any], policies: TimescalePolicies) -> None:
    """(Re)set compression and retention to the configured values; idempotent."""
    if not await timescaledb_installed(conn):
        return
    async with conn.transaction():
        for table in TIMESCALE_TABLES:
            await conn.execute("SELECT remove_compression_policy(%s, if_exists => true)", (table,))
            await conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
            if policies.compress_after is not None:
                await conn.execute(
                    f"ALTER TABLE {table} SET (timescaledb.compress,"
                    " timescaledb.compress_segmentby = 'device_id')"
                )
                await conn.execute(
                    "SELECT add_compression_policy(%s, %s)", (table, policies.compress_after)
                )
            if policies.retain_for is not None:
                await conn.execute(
                    "SELECT add_retention_policy(%s, %s)", (table, policies.retain_for)
                )
