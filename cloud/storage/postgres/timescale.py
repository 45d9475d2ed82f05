"""TimescaleDB's policies on raw readings and events: compression and retention, set from settings.

Every process runs this on start, so it changes a policy only when its setting changed and never
touches an unchanged one. Removing and re-adding every policy on each start used to deadlock
against the scheduler: a policy job holds its job lock and then waits for its table, while the
starting process held the table (``ALTER TABLE``) and waited for the job's lock to delete it.
Changes now take the locks in the job's order (jobs first, tables after), under the migration
lock, so concurrent starters take turns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import tuple_row

logger = logging.getLogger(__name__)

TIMESCALE_TABLES = ("readings", "events")

# The policy kinds we manage, by TimescaleDB's procedure name and the config key of their age.
_COMPRESSION = ("policy_compression", "compress_after")
_RETENTION = ("policy_retention", "drop_after")

_POLICIES_SQL = """
SELECT hypertable_name, proc_name, (config ->> %(compress_key)s)::interval AS compress_after,
       (config ->> %(drop_key)s)::interval AS drop_after
FROM timescaledb_information.jobs
WHERE hypertable_schema = current_schema() AND proc_name IN (%(compress)s, %(retain)s)
"""

_COMPRESSION_ENABLED_SQL = """
SELECT hypertable_name FROM timescaledb_information.hypertables
WHERE hypertable_schema = current_schema() AND compression_enabled
"""


@dataclass(frozen=True, slots=True)
class TimescalePolicies:
    """Compression and retention of raw readings/events when TimescaleDB is present."""

    compress_after: timedelta | None = timedelta(days=7)
    retain_for: timedelta | None = timedelta(days=730)


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    """What to change, in lock order: removals (job locks), compression settings (table
    locks), then additions."""

    remove_compression: tuple[str, ...] = ()
    remove_retention: tuple[str, ...] = ()
    enable_compression: tuple[str, ...] = ()
    add_compression: tuple[tuple[str, timedelta], ...] = ()
    add_retention: tuple[tuple[str, timedelta], ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.remove_compression
            or self.remove_retention
            or self.enable_compression
            or self.add_compression
            or self.add_retention
        )


def plan_policy_changes(
    wanted: TimescalePolicies,
    compression: dict[str, timedelta],
    retention: dict[str, timedelta],
    compression_enabled: frozenset[str],
) -> PolicyChanges:
    """Pure: the changes that make each table's current policies (by table) the wanted ones."""
    remove_compression: list[str] = []
    remove_retention: list[str] = []
    enable: list[str] = []
    add_compression: list[tuple[str, timedelta]] = []
    add_retention: list[tuple[str, timedelta]] = []
    for table in TIMESCALE_TABLES:
        if compression.get(table) != wanted.compress_after:
            if table in compression:
                remove_compression.append(table)
            if wanted.compress_after is not None:
                if table not in compression_enabled:
                    enable.append(table)
                add_compression.append((table, wanted.compress_after))
        if retention.get(table) != wanted.retain_for:
            if table in retention:
                remove_retention.append(table)
            if wanted.retain_for is not None:
                add_retention.append((table, wanted.retain_for))
    return PolicyChanges(
        tuple(remove_compression),
        tuple(remove_retention),
        tuple(enable),
        tuple(add_compression),
        tuple(add_retention),
    )


async def timescaledb_installed(conn: AsyncConnection[Any]) -> bool:
    cursor = await conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    return await cursor.fetchone() is not None


async def _rows(conn: AsyncConnection[Any], sql: str, params: dict[str, Any]) -> list[Any]:
    # Tuples whatever the connection's row factory (the pool's is dict_row).
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(sql, params)
        return await cursor.fetchall()


async def _current_policy_changes(
    conn: AsyncConnection[Any], wanted: TimescalePolicies
) -> PolicyChanges:
    params = {
        "compress_key": _COMPRESSION[1],
        "drop_key": _RETENTION[1],
        "compress": _COMPRESSION[0],
        "retain": _RETENTION[0],
    }
    compression: dict[str, timedelta] = {}
    retention: dict[str, timedelta] = {}
    for table, proc, compress_after, drop_after in await _rows(conn, _POLICIES_SQL, params):
        if proc == _COMPRESSION[0]:
            compression[table] = compress_after
        else:
            retention[table] = drop_after
    enabled = frozenset(row[0] for row in await _rows(conn, _COMPRESSION_ENABLED_SQL, {}))
    return plan_policy_changes(wanted, compression, retention, enabled)


async def apply_timescale_policies(
    conn: AsyncConnection[Any], policies: TimescalePolicies, lock_id: int
) -> None:
    """Make the compression and retention policies the configured ones; no-op when they are."""
    async with conn.transaction():
        if not await timescaledb_installed(conn):
            return
        if (await _current_policy_changes(conn, policies)).empty:
            return
        # Someone else may be changing them too: decide again under the migration lock.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id,))
        changes = await _current_policy_changes(conn, policies)
        for table in changes.remove_compression:
            await conn.execute("SELECT remove_compression_policy(%s, if_exists => true)", (table,))
        for table in changes.remove_retention:
            await conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
        for table in changes.enable_compression:
            await conn.execute(
                f"ALTER TABLE {table} SET (timescaledb.compress,"
                " timescaledb.compress_segmentby = 'device_id')"
            )
        for table, after in changes.add_compression:
            await conn.execute("SELECT add_compression_policy(%s, %s)", (table, after))
        for table, after in changes.add_retention:
            await conn.execute("SELECT add_retention_policy(%s, %s)", (table, after))


# The scheduler's record of each job's last run; a failure there is otherwise silent (the
# server log aside): chunks stop being compressed, old data stops being dropped.
_FAILED_JOBS_SQL = """
SELECT j.proc_name, coalesce(j.hypertable_name, ''), j.job_id
FROM timescaledb_information.job_stats s
JOIN timescaledb_information.jobs j ON j.job_id = s.job_id
WHERE s.last_run_status = 'Failed'
ORDER BY j.job_id
"""


async def failed_jobs(conn: AsyncConnection[Any]) -> list[str]:
    """The background jobs whose last run failed, e.g. ``policy_compression on readings (job
    1001)``; none without TimescaleDB."""
    if not await timescaledb_installed(conn):
        return []
    return [
        f"{proc} on {table} (job {job_id})" if table else f"{proc} (job {job_id})"
        for proc, table, job_id in await _rows(conn, _FAILED_JOBS_SQL, {})
    ]


# The migration that made readings_hourly exact enough for the API's time series.
HOURLY_AGGREGATE_MIGRATION = "0017_readings_hourly_realtime"


async def hourly_aggregate_ready(conn: AsyncConnection[Any]) -> bool:
    """Whether the time series can read whole hours from readings_hourly."""
    rows = await _rows(
        conn,
        "SELECT 1 FROM schema_migrations WHERE version = %(version)s",
        {"version": HOURLY_AGGREGATE_MIGRATION},
    )
    return bool(rows)


# How TimescaleDB's invalidation logs store a timestamptz: microseconds since the Unix epoch.
_INTERNAL_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Writes to readings that readings_hourly has not absorbed yet: logged per hypertable by the
# insert/update/delete trigger, moved to the aggregate's own log by a refresh and cleared once
# materialised. TimescaleDB's catalog, not its API (no view exposes it; checked against 2.17 by
# tests/integration/test_timescaledb_timeseries.py).
_PENDING_SQL = """
SELECT greatest(l.lowest_modified_value, %(low)s), least(l.greatest_modified_value, %(high)s)
FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log l
JOIN _timescaledb_catalog.hypertable h ON h.id = l.hypertable_id
WHERE h.schema_name = current_schema() AND h.table_name = 'readings'
  AND l.lowest_modified_value <= %(high)s AND l.greatest_modified_value >= %(low)s
UNION ALL
SELECT greatest(l.lowest_modified_value, %(low)s), least(l.greatest_modified_value, %(high)s)
FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l
JOIN _timescaledb_catalog.continuous_agg c ON c.mat_hypertable_id = l.materialization_id
WHERE c.user_view_schema = current_schema() AND c.user_view_name = 'readings_hourly'
  AND l.lowest_modified_value <= %(high)s AND l.greatest_modified_value >= %(low)s
"""


def _internal(moment: datetime) -> int:
    return (moment - _INTERNAL_EPOCH) // _MICROSECOND


async def pending_invalidations(
    conn: AsyncConnection[Any], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]] | None:
    """The time ranges (inclusive) within [start, end] written since readings_hourly last
    refreshed them; None when they cannot be read (then the caller reads raw rows)."""
    bounds = {"low": _internal(start), "high": _internal(end)}
    try:
        async with conn.transaction():  # a savepoint when the caller has a transaction open
            rows = await _rows(conn, _PENDING_SQL, bounds)
    except psycopg.Error as exc:
        logger.warning("cannot read TimescaleDB's pending refreshes, reading raw rows: %s", exc)
        return None
    return [
        (_INTERNAL_EPOCH + low * _MICROSECOND, _INTERNAL_EPOCH + high * _MICROSECOND)
        for low, high in rows
    ]
