"""Migration postgres/0019 (events.heard) on the production database: TimescaleDB with the
events hypertable holding a compressed chunk, as a database that has run for a week does.
The column must be added without rewriting or refusing the compressed data, old rows read
back without labels, and new rows (with labels) stored beside them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from cloud.storage.postgres.migrations import apply_migrations, bundled_migrations
from tests.harness.postgres import database_on

OLD = datetime.now(UTC) - timedelta(days=30)
NOW = datetime.now(UTC)
HEARD = [{"label": "Baby cry, infant cry", "score": 0.93}]


async def test_heard_is_added_to_a_compressed_events_hypertable(
    timescaledb_server_url: str,
) -> None:
    # A database of its own: the session's `timescaledb_url` is shared and already migrated.
    with database_on(timescaledb_server_url) as url:
        await _migrate_a_compressed_week(url)


async def _migrate_a_compressed_week(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await apply_migrations(conn, [m for m in bundled_migrations() if m.version < "0019"])
        await conn.execute("INSERT INTO devices (device_id) VALUES ('dev-1')")
        await conn.execute(
            "INSERT INTO events (time, received_at, device_id, seq, kind, episode_id,"
            " confidence) VALUES (%s, %s, 'dev-1', 1, 'cry_started', 1, 0.9)",
            (OLD, OLD),
        )
        await conn.execute("ALTER TABLE events SET (timescaledb.compress)")
        cursor = await conn.execute("SELECT count(compress_chunk(c)) FROM show_chunks('events') c")
        assert await cursor.fetchone() == (1,)

        # Up to 0019 only: later migrations are not this test's subject.
        applied = await apply_migrations(
            conn, [m for m in bundled_migrations() if m.version < "0020"]
        )
        assert applied == ["0019_event_heard"]
        await conn.execute(
            "INSERT INTO events (time, received_at, device_id, seq, kind, episode_id,"
            " confidence, heard) VALUES (%s, %s, 'dev-1', 2, 'cry_started', 2, 0.93, %s)",
            (NOW, NOW, Jsonb(HEARD)),
        )
        cursor = await conn.execute("SELECT seq, heard FROM events ORDER BY seq")
        assert await cursor.fetchall() == [(1, None), (2, HEARD)]
        cursor = await conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'events' AND is_compressed"
        )
        assert await cursor.fetchone() == (1,)
