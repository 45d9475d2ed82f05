"""Versioned SQL migrations: applied in order, each once, safe to run on every start.

Files live in ``cloud/storage/migrations/postgres/NNNN_name.sql``. Each file is applied in its
own transaction together with its row in ``schema_migrations`` (so ``applied_at`` says when it
really committed, and a failing file leaves the ones before it applied); a transaction-scoped
advisory lock taken first in each transaction serialises concurrent starters (two API processes
and a collector booting together). Nothing runs outside those transactions: a statement there
would open an implicit transaction and turn every later one into a savepoint of it.

A file whose first line is ``-- requires: <extension>`` is applied only where that extension can
be created; until then it is skipped and not recorded, so it is applied on the first start after
the extension is installed (and, for TimescaleDB, preloaded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import tuple_row

logger = logging.getLogger(__name__)

# Arbitrary but fixed: identifies "the Nursery migration lock" among advisory locks.
MIGRATION_LOCK_ID = 0x6E757273
REQUIRES_PREFIX = "-- requires:"
# Extensions whose CREATE EXTENSION fails unless the server loads their library at start.
PRELOADED_EXTENSIONS = frozenset({"timescaledb"})

_EXTENSION_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = %(name)s),
       EXISTS (SELECT 1 FROM pg_extension WHERE extname = %(name)s),
       current_setting('shared_preload_libraries')
"""


class ExtensionState(Enum):
    USABLE = "usable"
    MISSING = "missing"
    NOT_PRELOADED = "not_preloaded"


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


def extension_state(name: str, available: bool, created: bool, preload: str) -> ExtensionState:
    """Pure: whether ``CREATE EXTENSION name`` can succeed on this server.

    ``preload`` is the server's ``shared_preload_libraries`` (entries may carry quotes or a
    ``$libdir/`` prefix).
    """
    if created:
        return ExtensionState.USABLE
    if not available:
        return ExtensionState.MISSING
    if name in PRELOADED_EXTENSIONS:
        loaded = {entry.strip().strip("'\"").rsplit("/", 1)[-1] for entry in preload.split(",")}
        if name not in loaded:
            return ExtensionState.NOT_PRELOADED
    return ExtensionState.USABLE


def bundled_migrations() -> list[Migration]:
    folder = resources.files("cloud.storage").joinpath("migrations", "postgres")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text()) for entry in files]


async def _extension_state(conn: AsyncConnection[Any], name: str) -> ExtensionState:
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(_EXTENSION_SQL, {"name": name})
        row = await cursor.fetchone()
    assert row is not None
    available, created, preload = row
    return extension_state(name, available, created, preload)


def _report_waiting(
    migration: Migration, extension: str, state: ExtensionState, warned: set[str]
) -> None:
    if state is ExtensionState.NOT_PRELOADED and extension not in warned:
        warned.add(extension)
        # What a Debian/Ubuntu server looks like right after installing the package: say once
        # per start how to finish, since the database runs on without it meanwhile.
        logger.warning(
            "%s is installed on this PostgreSQL server but not preloaded, so migration %s (and "
            "those after it that need it) waits and the database runs without it: add "
            "shared_preload_libraries = '%s' to postgresql.conf (or run timescaledb-tune) and "
            "restart PostgreSQL; the next start "
            "applies it and keeps all data",
            extension, migration.version, extension,
        )  # fmt: skip
    else:
        logger.info("skipping migration %s: extension %s %s", migration.version, extension,
                    state.value.replace("_", " "))  # fmt: skip


async def apply_migrations(conn: AsyncConnection[Any], migrations: list[Migration]) -> list[str]:
    applied_now: list[str] = []
    warned: set[str] = set()
    async with conn.transaction():
        # Under the lock too: CREATE TABLE IF NOT EXISTS is not safe against a concurrent
        # creator (two API processes starting at once collide on the table's type name).
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
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
            extension = migration.required_extension
            if extension is not None:
                state = await _extension_state(conn, extension)
                if state is not ExtensionState.USABLE:
                    _report_waiting(migration, extension, state, warned)
                    continue
            logger.info("applying migration %s", migration.version)
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,)
            )
            applied_now.append(migration.version)
    return applied_now
