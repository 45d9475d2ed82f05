"""Versioned SQL migrations: applied in order, each once, safe to run on every start.

Files live in ``cloud/storage/migrations/postgres/NNNN_name.sql``. A transaction-scoped advisory
lock serialises concurrent starters (two API processes booting together), and each file is
applied in its own transaction together with its row in ``schema_migrations``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

from psycopg import AsyncConnection

logger = logging.getLogger(__name__)

# Arbitrary but fixed: identifies "the Nursery migration lock" among advisory locks.
MIGRATION_LOCK_ID = 0x6E757273


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    sql: str


def bundled_migrations() -> list[Migration]:
    folder = resources.files("cloud.storage").joinpath("migrations", "postgres")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text()) for entry in files]


async def apply_migrations(conn: AsyncConnection[Any], migrations: list[Migration]) -> list[str]:
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
    for migration in migrations:
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
