"""The parents' time series on PostgreSQL: from the raw rows, or on TimescaleDB from whole hours
of ``readings_hourly`` (migration 0017).

Bucket starts come from date_bin on the epoch, which for a stride of days and seconds is plain
microsecond arithmetic, so they agree exactly with SQLite's integer arithmetic on epoch seconds,
and with time_bucket's whole hours. Where TimescaleDB is in use and the bucket is whole hours,
a device's readings in the range's whole hours come from the aggregate (sums and counts, so an
hour re-bucketed into a day averages exactly as the raw rows do; real-time aggregation covers
the open hour and anything not yet refreshed). The rest is read raw: the part-hours at either
end, uploads, cry episodes, and devices whose claim period began after they were registered
(``history_from``): their readings count only if recorded and received in the period
(cloud/storage/claim_plan.py), and the aggregate keeps no arrival time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from cloud.storage.health_plan import CRY_EPISODE_KIND, bucket_seconds
from cloud.storage.postgres.health import HISTORY_SQL
from cloud.storage.postgres.timescale import pending_invalidations
from cloud.storage.records import TimeBucket

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The member devices' cry episodes (served by events_cry_started, migration 0004).
_CRY_EPISODES = f"""
SELECT e.time, NULL::float8, NULL::float8, 0, 1, 0
FROM device_members m
JOIN devices d ON d.device_id = m.device_id
JOIN events e ON e.device_id = m.device_id
WHERE m.user_id = %(user_id)s AND e.kind = '{CRY_EPISODE_KIND}'
  AND (d.history_from IS NULL
       OR (e.time >= d.history_from AND e.received_at >= d.history_from))
  AND e.time >= %(start)s AND e.time < %(end)s
"""  # noqa: S608 - a constant

_BUCKETED = """
SELECT date_bin(%(bucket)s, time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket,
       sum(temperature_sum) / nullif(sum(temperature_count), 0) AS avg_temperature,
       sum(humidity_sum) / nullif(sum(humidity_count), 0) AS avg_humidity,
       sum(is_record)::bigint AS record_count,
       sum(cry)::bigint AS cry_count,
       sum(sick)::bigint AS sick_count
FROM ({rows}) happened (time, temperature_sum, humidity_sum, is_record, cry, sick,
                        temperature_count, humidity_count)
GROUP BY bucket
ORDER BY bucket DESC
"""

_RAW_COLUMNS = """
    r.created_at, r.temperature, r.humidity, 1, r.cry_detected::int, r.sick_detected::int,
    (r.temperature IS NOT NULL)::int, (r.humidity IS NOT NULL)::int"""

RAW_TIMESERIES_SQL = _BUCKETED.format(
    rows=f"""
    SELECT {_RAW_COLUMNS} FROM ({HISTORY_SQL}) r
    WHERE r.created_at >= %(start)s AND r.created_at < %(end)s
    UNION ALL
    SELECT *, 0, 0 FROM ({_CRY_EPISODES}) cries"""  # noqa: S608 - fixed fragments
)

# Devices with their whole history: whole hours from readings_hourly, the rest of the range
# (part-hours, hours with writes not yet refreshed) from the raw rows. Each window is a branch
# of its own with its bounds as parameters, so that TimescaleDB excludes the chunks outside it
# (windows joined from an array defeated chunk exclusion: every chunk of a year was decompressed,
# tests/benchmarks/bench_api.py); each device's rows are read through a LATERAL subquery, only
# for the member devices it applies to.
_AGGREGATE_WINDOW = """
    SELECT h.bucket, h.sum_temperature, h.sum_humidity, h.record_count, 0, 0,
           h.temperature_count, h.humidity_count
    FROM device_members m
    JOIN devices d ON d.device_id = m.device_id
    JOIN readings_hourly h ON h.device_id = m.device_id
    WHERE m.user_id = %(user_id)s AND d.history_from IS NULL
      AND h.bucket >= %(aggregate_from_{n})s AND h.bucket < %(aggregate_to_{n})s"""

_DEVICE_READINGS = """
    SELECT r.time, r.temperature, r.humidity, 1, 0, 0,
           (r.temperature IS NOT NULL)::int, (r.humidity IS NOT NULL)::int
    FROM device_members m
    JOIN devices d ON d.device_id = m.device_id
    CROSS JOIN LATERAL (
        SELECT r.time, r.temperature, r.humidity FROM readings r
        WHERE r.device_id = m.device_id AND r.source = 'device'
          AND r.time >= {start} AND r.time < {end} {extra}
    ) r
    WHERE m.user_id = %(user_id)s AND {which}"""

_REST = """
    SELECT r.time, r.temperature, r.humidity, 1, r.cry_detected::int, r.sick_detected::int,
           (r.temperature IS NOT NULL)::int, (r.humidity IS NOT NULL)::int
    FROM readings r
    WHERE r.user_id = %(user_id)s AND r.source = 'upload' AND r.device_id IS NULL
      AND r.time >= %(start)s AND r.time < %(end)s
    UNION ALL
    SELECT *, 0, 0 FROM ({episodes}) cries"""


@functools.cache
def hourly_timeseries_sql(aggregate_windows: int, raw_windows: int) -> str:
    """The statement for that many aggregate and raw windows (parameters ``aggregate_from_0``,
    ``aggregate_to_0``, ..., ``raw_from_0``, ...)."""
    branches = [_AGGREGATE_WINDOW.format(n=n) for n in range(aggregate_windows)]
    branches += [
        _DEVICE_READINGS.format(start=f"%(raw_from_{n})s", end=f"%(raw_to_{n})s", extra="",
                                which="d.history_from IS NULL")
        for n in range(raw_windows)
    ]  # fmt: skip
    # A device in a claim period counts what was recorded and received in it (by arrival, which
    # the aggregate lacks).
    branches.append(_DEVICE_READINGS.format(
        start="%(start)s", end="%(end)s",
        extra="AND r.time >= d.history_from AND r.received_at >= d.history_from",
        which="d.history_from IS NOT NULL",
    ))  # fmt: skip
    branches.append(_REST.format(episodes=_CRY_EPISODES))
    return _BUCKETED.format(rows="\n    UNION ALL".join(branches))


def _hour_floor(moment: datetime) -> datetime:
    return EPOCH + ((moment - EPOCH) // HOUR) * HOUR


def _hour_ceil(moment: datetime) -> datetime:
    return EPOCH - ((EPOCH - moment) // HOUR) * HOUR


@dataclass(frozen=True, slots=True)
class HourPlan:
    """Which parts of a range come from the aggregate (whole, refreshed hours) and which raw."""

    aggregate: tuple[tuple[datetime, datetime], ...]
    raw: tuple[tuple[datetime, datetime], ...]

    def parameters(self) -> dict[str, datetime]:
        """The windows as the parameters of ``hourly_timeseries_sql``."""
        named: dict[str, datetime] = {}
        for kind, windows in (("aggregate", self.aggregate), ("raw", self.raw)):
            for n, (low, high) in enumerate(windows):
                named[f"{kind}_from_{n}"], named[f"{kind}_to_{n}"] = low, high
        return named


def plan_hours(start: datetime, end: datetime, stale: list[tuple[datetime, datetime]]) -> HourPlan:
    """Pure: split [start, end) into aggregate windows (whole hours with no pending write) and
    raw windows (the part-hours at the ends, and every hour a ``stale`` range touches, i.e. an
    hour written to since the aggregate last refreshed it; ``stale`` ranges are inclusive)."""
    start_hour, end_hour = _hour_ceil(start), _hour_floor(end)
    if start_hour >= end_hour:
        return HourPlan((), ((start, end),))
    raw = [(start, start_hour), (end_hour, end)]
    for low, high in stale:
        low, high = max(_hour_floor(low), start_hour), min(_hour_floor(high) + HOUR, end_hour)
        if low < high:
            raw.append((low, high))
    merged: list[tuple[datetime, datetime]] = []
    for low, high in sorted(window for window in raw if window[0] < window[1]):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    aggregate = []
    cursor = start_hour
    for low, high in merged:
        if cursor < low and low <= end_hour:
            aggregate.append((cursor, min(low, end_hour)))
        cursor = max(cursor, high)
    if cursor < end_hour:
        aggregate.append((cursor, end_hour))
    return HourPlan(tuple(aggregate), tuple(merged))


async def health_timeseries(
    conn: AsyncConnection[Any],
    user_id: int,
    bucket: timedelta,
    start: datetime,
    end: datetime,
    hourly_aggregate: bool,
) -> list[TimeBucket]:
    """``hourly_aggregate``: readings_hourly (migration 0017) is there to read whole hours from."""
    width = timedelta(seconds=bucket_seconds(bucket))
    params: dict[str, Any] = {"user_id": user_id, "bucket": width, "start": start, "end": end}
    sql = RAW_TIMESERIES_SQL
    # One snapshot for the pending writes and the aggregate they are checked against.
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        if hourly_aggregate and width % HOUR == timedelta(0):
            stale = await pending_invalidations(conn, start, end)
            if stale is not None:
                plan = plan_hours(start, end, stale)
                sql = hourly_timeseries_sql(len(plan.aggregate), len(plan.raw))
                params.update(plan.parameters())
                # The planner's estimate for the re-claimed devices' branch (which usually
                # reads nothing) crosses jit_above_cost; compiling the ~700 expressions of
                # this many branches then took 300 of the 335 ms of a year by day
                # (tests/benchmarks/bench_api.py).
                await conn.execute("SET LOCAL jit = off")
        cursor = await conn.execute(sql, params)
        rows = await cursor.fetchall()
    return [
        TimeBucket(
            time=row["bucket"],
            avg_temperature=row["avg_temperature"],
            avg_humidity=row["avg_humidity"],
            record_count=row["record_count"],
            cry_count=row["cry_count"],
            sick_count=row["sick_count"],
        )
        for row in rows
    ]
