"""Migration postgres/0021 ("not a cry") on the production database: TimescaleDB with the
events hypertable holding a compressed chunk, as a database that has run for a week does.
``events.ignored`` must be added without rewriting or refusing the compressed data (old rows
read back without a reason, new ones store it beside them), and an existing device starts
with an empty list at revision 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from cloud.storage.postgres.migrations import apply_migrations, bundled_migrations
from tests.harness.postgres import database_on

OLD = datetime.now(UTC) - timedelta(days=30)
NOW = datetime.now(UTC)
IGNORED = {"like_episode_id": 1, "marked_at": "2026-12-01T19:30:00+00:00", "similarity": 0.91}


async def test_not_a_cry_is_added_to_a_compressed_events_hypertable(
    timescaledb_server_url: str,
) -> None:
    # A database of its own: the session's `timescaledb_url` is shared and already migrated.
    with database_on(timescaledb_server_url) as url:
        await _migrate_a_compressed_week(url)


async def _migrate_a_compressed_week(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await apply_migrations(conn, [m for m in bundled_migrations() if m.version < "0021"])
        await conn.execute("INSERT INTO devices (device_id) VALUES ('dev-1')")
        await conn.execute(
            "INSERT INTO events (time, received_at, device_id, seq, kind, episode_id,"
            " confidence) VALUES (%s, %s, 'dev-1', 1, 'cry_started', 1, 0.9)",
            (OLD, OLD),
        )
        await conn.execute("ALTER TABLE events SET (timescaledb.compress)")
        cursor = await conn.execute("SELECT count(compress_chunk(c)) FROM show_chunks('events') c")
        assert await cursor.fetchone() == (1,)

        # Up to 0021 only: later migrations are not this test's subject.
        applied = await apply_migrations(
            conn, [m for m in bundled_migrations() if m.version < "0022"]
        )
        assert applied == ["0021_not_a_cry"]
        await conn.execute(
            "INSERT INTO events (time, received_at, device_id, seq, kind, episode_id,"
            " confidence, ignored) VALUES (%s, %s, 'dev-1', 2, 'cry_started', 2, 0.9, %s)",
            (NOW, NOW, Jsonb(IGNORED)),
        )
        cursor = await conn.execute("SELECT seq, ignored FROM events ORDER BY seq")
        assert await cursor.fetchall() == [(1, None), (2, IGNORED)]
        cursor = await conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'events' AND is_compressed"
        )
        assert await cursor.fetchone() == (1,)

        cursor = await conn.execute("SELECT ignore_list_revision FROM devices")
        assert await cursor.fetchone() == (0,)
        await conn.execute(
            "INSERT INTO not_a_cry_marks (device_id, episode_id, marked_at)"
            " VALUES ('dev-1', 1, %s)",
            (NOW,),
        )
        # The marks go with their device.
        await conn.execute("DELETE FROM events")
        await conn.execute("DELETE FROM devices")
        cursor = await conn.execute("SELECT count(*) FROM not_a_cry_marks")
        assert await cursor.fetchone() == (0,)
