"""TimescaleDB's background jobs really run: with old chunks present, retention drops what is
past its age, compression compresses what is past its age (and it still reads the same), the
continuous aggregate materialises the hours that have readings; and a failing job shows in
the collector's metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cloud.collector import Collector
from cloud.config import CollectorSettings, MqttSettings
from cloud.storage import Storage, open_storage
from cloud.storage.records import IngestBatch, TelemetryRow
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.postgres import database_on
from tests.harness.services import BrokerAccount
from tests.harness.timescaledb import job_id, run_job_now
from tests.harness.waiting import wait_until_async

pytestmark = pytest.mark.timescaledb

JOB_WAIT_S = 60.0  # the failing job's first run
READINGS_PER_AGE = 120  # one a minute: two whole hours
AGES = {"expired": timedelta(days=800), "old": timedelta(days=30), "recent": timedelta(days=2)}


@pytest.fixture
def jobs_url(timescaledb_server_url: str) -> Iterator[str]:
    """A database of its own: the jobs here drop and compress chunks other tests write to."""
    with database_on(timescaledb_server_url) as url:
        yield url


@pytest.fixture
async def jobs_storage(jobs_url: str) -> AsyncIterator[Storage]:
    store = await open_storage(jobs_url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


async def _ingest_ages(storage: Storage, device_id: str, now: datetime) -> dict[str, datetime]:
    await storage.register_device(device_id, None)
    starts = {name: _hour(now - age) for name, age in AGES.items()}
    rows = [
        TelemetryRow(device_id, seq, at, at, 20.0 + minute % 4, 50.0, -60.0, -40.0)
        for seq, (start, minute) in enumerate(
            (start, minute) for start in starts.values() for minute in range(READINGS_PER_AGE)
        )
        for at in [start + timedelta(minutes=minute)]
    ]
    result = await storage.ingest(IngestBatch(readings=rows))
    assert result.readings_stored == len(rows)
    return starts


async def test_retention_compression_and_aggregate_refresh_run(
    jobs_storage: Storage, jobs_url: str
) -> None:
    device_id = f"dev-jobs-{uuid.uuid4().hex[:6]}"
    starts = await _ingest_ages(jobs_storage, device_id, datetime.now(UTC))
    with psycopg.connect(jobs_url, autocommit=True) as conn:
        run_job_now(conn, job_id(conn, "policy_retention", "readings"))
        run_job_now(conn, job_id(conn, "policy_compression", "readings"))
        aggregate = conn.execute(
            "SELECT materialization_hypertable_name FROM timescaledb_information."
            "continuous_aggregates WHERE view_name = 'readings_hourly'"
        ).fetchone()
        assert aggregate is not None
        run_job_now(conn, job_id(conn, "policy_refresh_continuous_aggregate", str(aggregate[0])))

        # Counted per age's own two hours (a day bucket would split them across midnight UTC).
        kept: dict[str, int] = {}
        for name, start in starts.items():
            counted = conn.execute(
                "SELECT count(*) FROM readings WHERE device_id = %s AND time >= %s AND time < %s",
                (device_id, start, start + timedelta(minutes=READINGS_PER_AGE)),
            ).fetchone()
            assert counted is not None
            kept[name] = int(counted[0])
        chunks = conn.execute(
            "SELECT range_start, range_end, is_compressed FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'readings'"
        ).fetchall()
        materialised = conn.execute(
            "SELECT bucket, record_count, avg_temperature FROM readings_hourly"
            " WHERE device_id = %s ORDER BY bucket",
            (device_id,),
        ).fetchall()
    # Retention (730 days): the expired readings are gone, the others kept.
    assert kept == {"expired": 0, "old": READINGS_PER_AGE, "recent": READINGS_PER_AGE}

    # Compression (after 7 days): the old readings' chunk is compressed, the recent one not.
    def compressed(at: datetime) -> bool:
        return next(bool(c[2]) for c in chunks if c[0] <= at < c[1])

    assert compressed(starts["old"])
    assert not compressed(starts["recent"])
    # The aggregate refresh (all time up to an hour ago, migration 0017) materialised the hours
    # that still have readings, compressed or not.
    assert materialised == [
        (start + hour, 60, pytest.approx(21.5))
        for start in (starts["old"], starts["recent"])
        for hour in (timedelta(0), timedelta(hours=1))
    ]


@pytest.fixture
async def collector_on_jobs_db(
    jobs_storage: Storage,
    jobs_url: str,
    mosquitto: MosquittoBroker,
    collector_account: BrokerAccount,
) -> AsyncIterator[Collector]:
    settings = CollectorSettings(
        database_url=jobs_url,
        mqtt=MqttSettings(
            mosquitto.host, mosquitto.port, collector_account.username, collector_account.password
        ),
        client_id=f"collector-{uuid.uuid4().hex[:8]}",
        share_group=f"g{uuid.uuid4().hex[:8]}",
        http_port=0,
        offline_check_interval_s=0.2,
    )
    collector = Collector(settings, jobs_storage)
    await collector.start()
    try:
        yield collector
    finally:
        await collector.stop()


async def test_a_failing_job_shows_in_the_collector_metrics(
    collector_on_jobs_db: Collector, jobs_url: str
) -> None:
    registry = collector_on_jobs_db.metrics.registry

    def failed() -> float | None:
        return registry.get_sample_value("nursery_database_failed_jobs")

    await asyncio.sleep(0.5)
    assert failed() == 0
    with psycopg.connect(jobs_url, autocommit=True) as conn:
        conn.execute(
            "CREATE PROCEDURE failing_job(job_id int, config jsonb) LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
        )
        conn.execute("SELECT add_job('failing_job', '1 hour', initial_start => now())")
    assert await wait_until_async(lambda: failed() == 1, timeout_s=JOB_WAIT_S)
