"""Migration postgres/0019 (events.heard) on the production database a week old
(tests/harness/compressed_events.py): the column is added over a compressed chunk, old rows
read back without labels, and new rows (with labels) are stored beside them."""

from __future__ import annotations

from tests.harness.compressed_events import events_column_added_over_compressed_chunk
from tests.harness.postgres import database_on

HEARD = [{"label": "Baby cry, infant cry", "score": 0.93}]


async def test_heard_is_added_to_a_compressed_events_hypertable(
    timescaledb_server_url: str,
) -> None:
    # A database of its own: the session's `timescaledb_url` is shared and already migrated.
    with database_on(timescaledb_server_url) as url:
        async with events_column_added_over_compressed_chunk(
            url, "0019_event_heard", "heard", HEARD
        ):
            pass
