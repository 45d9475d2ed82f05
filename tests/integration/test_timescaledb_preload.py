"""A server where TimescaleDB is installed but not preloaded (a Debian/Ubuntu server right after
``apt-get install timescaledb-2-postgresql-15``) runs the database without it and says how to
enable it; the first start after it is preloaded converts the tables in place, losing nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cloud.storage import open_storage
from cloud.storage.records import IngestBatch, TelemetryRow
from tests.harness import ServiceUnavailableError
from tests.harness.postgres import PrivateCluster
from tests.harness.reporting import services_unavailable
from tests.harness.timescaledb import PRELOAD_SETTINGS, timescaledb_cluster

pytestmark = pytest.mark.timescaledb

TIMESCALEDB_MIGRATIONS = ["0003_timescaledb", "0017_readings_hourly_realtime"]


@pytest.fixture
def unpreloaded_cluster() -> Iterator[PrivateCluster]:
    """A private cluster whose PostgreSQL has TimescaleDB installed, started without preload."""
    try:
        with timescaledb_cluster(preload=False) as cluster:
            yield cluster
    except ServiceUnavailableError as exc:
        services_unavailable(str(exc))


def _readings(device_id: str, count: int) -> list[TelemetryRow]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    return [
        TelemetryRow(device_id, seq, time, time, 21.0 + seq % 3, 50.0, -60.0, -40.0)
        for seq, time in ((seq, start + timedelta(minutes=10 * seq)) for seq in range(count))
    ]


async def test_installed_but_not_preloaded_warns_then_upgrades_when_preloaded(
    unpreloaded_cluster: PrivateCluster, caplog: pytest.LogCaptureFixture
) -> None:
    url = unpreloaded_cluster.url
    caplog.set_level(logging.INFO, logger="cloud.storage")
    store = await open_storage(url)
    try:
        applied = await store.migrate()
        await store.register_device("dev-preload", None)
        await store.ingest(IngestBatch(readings=_readings("dev-preload", 500)))
    finally:
        await store.close()
    assert not set(TIMESCALEDB_MIGRATIONS) & set(applied)
    assert "0011_readings_device_check_per_batch" in applied
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "shared_preload_libraries" in warnings[0]
    assert "timescaledb" in warnings[0]

    unpreloaded_cluster.stop()
    unpreloaded_cluster.start(**PRELOAD_SETTINGS)
    store = await open_storage(url)
    try:
        assert await store.migrate() == TIMESCALEDB_MIGRATIONS
    finally:
        await store.close()
    with psycopg.connect(url) as conn:
        hypertables = {
            row[0]
            for row in conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables"
            )
        }
        kept = conn.execute(
            "SELECT count(*), min(seq), max(seq) FROM readings WHERE device_id = 'dev-preload'"
        ).fetchone()
    assert hypertables == {"readings", "events"}
    assert kept == (500, 0, 499)
