"""A production database a week old, for migrations that add a column to ``events``: TimescaleDB
with the events hypertable holding a compressed chunk. Such a migration must add the column
without rewriting or refusing the compressed data: old rows read back without a value, new ones
store it beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from cloud.storage.postgres.migrations import apply_migrations, bundled_migrations


@asynccontextmanager
async def events_column_added_over_compressed_chunk(
    url: str, migration: str, column: str, value: object
) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """Migrate ``url`` up to just before ``migration`` (e.g. "0021_not_a_cry"), store a month-old
    cry and compress its chunk, apply ``migration`` alone, store a new cry with ``column`` set to
    ``value`` (JSON), check both rows and the compressed chunk, and yield the connection for the
    caller's own checks. Later migrations are not the subject and are not applied."""
    old, now = datetime.now(UTC) - timedelta(days=30), datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        bundled = bundled_migrations()
        await apply_migrations(conn, [m for m in bundled if m.version < migration])
        await conn.execute("INSERT INTO devices (device_id) VALUES ('dev-1')")
        await conn.execute(
            "INSERT INTO events (time, received_at, device_id, seq, kind, episode_id,"
            " confidence) VALUES (%s, %s, 'dev-1', 1, 'cry_started', 1, 0.9)",
            (old, old),
        )
        await conn.execute("ALTER TABLE events SET (timescaledb.compress)")
        cursor = await conn.execute("SELECT count(compress_chunk(c)) FROM show_chunks('events') c")
        assert await cursor.fetchone() == (1,)

        applied = await apply_migrations(conn, [m for m in bundled if m.version <= migration])
        assert applied == [migration]
        await conn.execute(
            "INSERT INTO events (time, received_at, device_id, seq, kind, episode_id,"
            f" confidence, {column}) VALUES (%s, %s, 'dev-1', 2, 'cry_started', 2, 0.9, %s)",
            (now, now, Jsonb(value)),
        )
        cursor = await conn.execute(f"SELECT seq, {column} FROM events ORDER BY seq")
        assert await cursor.fetchall() == [(1, None), (2, value)]
        cursor = await conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'events' AND is_compressed"
        )
        assert await cursor.fetchone() == (1,)
        yield conn
