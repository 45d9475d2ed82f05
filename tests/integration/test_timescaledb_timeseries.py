"""On TimescaleDB the time series reads whole hours from readings_hourly and gives what the raw
rows give: part-hours at the edges, the open hour (real-time aggregation), missing sensor
values, a device claimed again, and late readings once the refresh job has run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from cloud.storage import Storage, open_storage
from cloud.storage.postgres.timeseries import health_timeseries, hourly_timeseries_sql, plan_hours
from cloud.storage.records import IngestBatch, TelemetryRow, TimeBucket, UploadRow
from tests.harness.postgres import database_on
from tests.harness.timescaledb import job_id, run_job_now

pytestmark = pytest.mark.timescaledb

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def series_url(timescaledb_server_url: str) -> Iterator[str]:
    with database_on(timescaledb_server_url) as url:
        yield url


@pytest.fixture
async def series_storage(series_url: str) -> AsyncIterator[Storage]:
    store = await open_storage(series_url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


def _rows(device_id: str, first_seq: int, times: list[datetime]) -> list[TelemetryRow]:
    return [
        TelemetryRow(device_id, first_seq + n, at, at, None if n % 7 == 0 else 20.0 + n % 5,
                     40.0 + n % 3, -60.0, -40.0)
        for n, at in enumerate(times)
    ]  # fmt: skip


def _rounded(buckets: list[TimeBucket]) -> list[tuple[object, ...]]:
    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 9)

    return [
        (b.time, r(b.avg_temperature), r(b.avg_humidity), b.record_count, b.cry_count,
         b.sick_count)
        for b in buckets
    ]  # fmt: skip


async def _same_as_raw(url: str, storage: Storage, user_id: int, now: datetime) -> None:
    ranges = [
        (HOUR, now - 3 * DAY + timedelta(minutes=17), now + timedelta(minutes=5)),
        (DAY, now - 8 * DAY, now),
        (2 * HOUR, now - DAY - timedelta(minutes=41), now - timedelta(minutes=3)),
    ]
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        for bucket, start, end in ranges:
            served = await storage.health_timeseries(user_id, bucket, start, end)
            raw = await health_timeseries(conn, user_id, bucket, start, end, False)
            assert served, (bucket, start, end)
            assert _rounded(served) == _rounded(raw), (bucket, start, end)


async def test_hourly_and_daily_series_from_the_aggregate_match_the_raw_rows(
    series_storage: Storage, series_url: str
) -> None:
    storage = series_storage
    now = datetime.now(UTC)
    owner = await storage.create_user(f"series-{uuid.uuid4().hex[:6]}@example.com", "h", None)
    device, reclaimed = f"dev-{uuid.uuid4().hex[:6]}", f"dev-{uuid.uuid4().hex[:6]}"
    for device_id in (device, reclaimed):
        await storage.register_device(device_id, owner.id)
    history = [now - 4 * DAY + n * timedelta(minutes=5) for n in range(4 * 24 * 12 - 24)]
    await storage.ingest(IngestBatch(readings=_rows(device, 0, history)))
    await storage.ingest(IngestBatch(readings=_rows(reclaimed, 0, history[::3])))
    await storage.add_upload(
        UploadRow(owner.id, now - DAY, 22.5, 44.0, None, None, True, False, 0.9)
    )
    with psycopg.connect(series_url, autocommit=True) as conn:
        # The second device was claimed again: only what arrived since counts (by arrival).
        conn.execute(
            "UPDATE devices SET history_from = %s WHERE device_id = %s", (now - DAY, reclaimed)
        )
        aggregate = conn.execute(
            "SELECT materialization_hypertable_name FROM timescaledb_information."
            "continuous_aggregates WHERE view_name = 'readings_hourly'"
        ).fetchone()
        assert aggregate is not None
        refresh = job_id(conn, "policy_refresh_continuous_aggregate", str(aggregate[0]))
        run_job_now(conn, refresh)
        watermark_rows = conn.execute(
            f"SELECT count(*) FROM _timescaledb_internal.{aggregate[0]}"
        ).fetchone()
    assert watermark_rows is not None
    assert watermark_rows[0] > 0  # the refresh materialised hours
    # The open hour, after the refresh: real-time aggregation reads it raw.
    fresh = [now - timedelta(minutes=m) for m in (20, 10, 1)]
    await storage.ingest(IngestBatch(readings=_rows(device, 10_000, fresh)))
    await _same_as_raw(series_url, storage, owner.id, now)

    # Late readings (a device replaying its outbox) into hours already materialised: read raw
    # until the refresh job has absorbed them, and absorbed by it even when older than the
    # 3 days the first policy refreshed.
    late = [now - 3 * DAY - timedelta(hours=5, minutes=m) for m in (1, 2, 3)]
    await storage.ingest(IngestBatch(readings=_rows(device, 20_000, late)))
    await _same_as_raw(series_url, storage, owner.id, now)
    with psycopg.connect(series_url, autocommit=True) as conn:
        run_job_now(conn, refresh)
        pending = conn.execute(
            "SELECT count(*) FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log"
        ).fetchone()
    assert pending == (0,)
    await _same_as_raw(series_url, storage, owner.id, now)

    # And the whole hours were really read from the aggregate's materialised rows.
    hours = plan_hours(now - 3 * DAY, now, [])
    params = {"user_id": owner.id, "bucket": HOUR, "start": now - 3 * DAY, "end": now,
              **hours.parameters()}  # fmt: skip
    sql = hourly_timeseries_sql(len(hours.aggregate), len(hours.raw))
    with psycopg.connect(series_url) as conn:
        plan = "\n".join(str(row[0]) for row in conn.execute("EXPLAIN " + sql, params))
        chunks = conn.execute(
            "SELECT chunk_name FROM timescaledb_information.chunks WHERE hypertable_name = %s",
            (str(aggregate[0]),),
        ).fetchall()
    assert chunks
    assert any(f" on {chunk[0]}" in plan for chunk in chunks), plan
