"""Migration postgres/0021 ("not a cry") on the production database a week old
(tests/harness/compressed_events.py): ``events.ignored`` is added over a compressed chunk (old
rows read back without a reason, new ones store it beside them), an existing device starts with
an empty list at revision 0, and the marks go with their device."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.harness.compressed_events import events_column_added_over_compressed_chunk
from tests.harness.postgres import database_on

IGNORED = {"like_episode_id": 1, "marked_at": "2026-12-01T19:30:00+00:00", "similarity": 0.91}


async def test_not_a_cry_is_added_to_a_compressed_events_hypertable(
    timescaledb_server_url: str,
) -> None:
    # A database of its own: the session's `timescaledb_url` is shared and already migrated.
    with database_on(timescaledb_server_url) as url:
        async with events_column_added_over_compressed_chunk(
            url, "0021_not_a_cry", "ignored", IGNORED
        ) as conn:
            cursor = await conn.execute("SELECT ignore_list_revision FROM devices")
            assert await cursor.fetchone() == (0,)
            await conn.execute(
                "INSERT INTO not_a_cry_marks (device_id, episode_id, marked_at)"
                " VALUES ('dev-1', 1, %s)",
                (datetime.now(UTC),),
            )
            await conn.execute("DELETE FROM events")
            await conn.execute("DELETE FROM devices")
            cursor = await conn.execute("SELECT count(*) FROM not_a_cry_marks")
            assert await cursor.fetchone() == (0,)
