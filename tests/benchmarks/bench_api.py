"""API benchmark: the parents' history and time series over a year of readings, and the alert
fan-out to many WebSocket clients, each against baselines measured in the same run.

    .venv/bin/python -m tests.benchmarks.bench_api [--days 365] [--clients 1000]
        [--backends postgres,timescaledb]

1. Queries, on each of ``--backends`` (plain PostgreSQL, and TimescaleDB with readings_hourly
   refreshed and the chunks older than 7 days compressed, as its jobs would have left a year),
   side by side. A fresh database holds one parent with one device that reported every
   10 s for ``--days`` days (3.15 M readings for a year), a few cry episodes a day and one app
   upload a day (tests/benchmarks/api_data.py, loaded with COPY). The API runs in this process
   (``create_app`` with its lifespan, driven by httpx's ASGITransport: no sockets, so the
   numbers are the app and its SQL, not HTTP parsing or scheduling between processes) and each
   endpoint is timed with sequential requests after a warm-up (up to ``--requests``; rows that
   take seconds stop after 30 s with at least 10). Baselines: the same result from a naive query
   on the raw table with index scans switched off (sequential scan), and a plain materialized
   view of hourly buckets (what a continuous aggregate is, without TimescaleDB). The results are cross-checked, and EXPLAIN ANALYZE summaries of the
   statements the API actually ran (recorded at the psycopg cursor) follow.
2. Fan-out. ``nursery-cloud api`` runs as a real uvicorn process on PostgreSQL; ``--clients``
   WebSocket connections of one parent (the clean fan-out case: one alert, N sockets) are opened
   first (not timed); then each alert is committed here through the storage's own
   ``insert_alert`` (INSERT + pg_notify in one transaction), and the time from the commit until
   the last socket has the message is measured. Baseline: the same clients against a minimal
   Starlette app in this file, served by uvicorn the same way, that sends each alert with
   ``await websocket.send_json`` to one socket after the other. The two servers take turns in
   two rounds; the CPU time of the server process per alert is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import numpy as np
import psycopg
import uvloop
from psycopg.rows import DictRow, dict_row
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cloud.api import create_app
from cloud.api.socket_messages import alert_message
from cloud.config import ApiSettings
from cloud.rules import AlertKind
from cloud.storage import Storage, open_storage
from cloud.storage.postgres.alarms import insert_alert
from cloud.storage.records import StoredAlert
from tests.benchmarks.api_data import (
    Account,
    LoadedYear,
    create_account,
    load_year,
    readings_size_sql,
)
from tests.harness.network import free_port
from tests.harness.postgres import fresh_database
from tests.harness.processes import ManagedProcess, console_script
from tests.harness.timescaledb import fresh_timescaledb_database

JWT_SECRET = "bench-api-secret-that-is-long-enough-0123456789"
PASSWORD = "bench password 123"
DEVICE_ID = "nursery-bench-0001"
EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"
# psycopg prepares a statement on its 5th execution and PostgreSQL weighs a generic plan after
# 5 more: the warm-up takes every query past both, to the plan it keeps.
WARMUP_REQUESTS = 12
WARMUP_BUDGET_S = 10.0
# A row stops after --requests runs, or once it has used ROW_BUDGET_S with MIN_REQUESTS runs
# (the seq-scan rows take seconds each).
ROW_BUDGET_S = 30.0
MIN_REQUESTS = 10
WARMUP_ALERTS = 2
ALERT_GAP_S = 0.3
FANOUT_ROUNDS = 2
ALERT_TIMEOUT_S = 60.0
CONNECT_CONCURRENCY = 64
REPO = Path(__file__).resolve().parents[2]

# ---- 1. queries -------------------------------------------------------------------------------

# The naive baselines: one scan of the raw table with an OR over the user's uploads and devices,
# run with index scans disabled, so that they read every row (as without readings_device_time).
_NAIVE_MINE = """
((r.source = 'upload' AND r.user_id = %(user_id)s)
 OR (r.source = 'device' AND r.device_id IN (SELECT device_id FROM devices
                                             WHERE owner_id = %(user_id)s)))
"""
NAIVE_HISTORY = f"""
SELECT r.id, r.user_id, r.source, r.device_id, r.temperature, r.humidity, r.audio_url,
       r.cry_detected, r.sick_detected, r.time AS created_at, r.notes
FROM readings r
WHERE {_NAIVE_MINE}
  AND (%(start)s::timestamptz IS NULL OR r.time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR r.time <= %(end)s)
ORDER BY r.time DESC, r.id DESC
LIMIT %(limit)s
"""
NAIVE_SERIES = f"""
SELECT date_bin(%(bucket)s, time, {EPOCH}) AS bucket,
       avg(temperature) AS avg_temperature, avg(humidity) AS avg_humidity,
       count(*) FILTER (WHERE is_record) AS record_count,
       count(*) FILTER (WHERE cry) AS cry_count, count(*) FILTER (WHERE sick) AS sick_count
FROM (
    SELECT r.time, r.temperature, r.humidity, true AS is_record, r.cry_detected AS cry,
           r.sick_detected AS sick
    FROM readings r WHERE {_NAIVE_MINE} AND r.time >= %(start)s AND r.time < %(end)s
    UNION ALL
    SELECT e.time, NULL, NULL, false, true, false FROM events e
    WHERE e.kind = 'cry_started' AND e.time >= %(start)s AND e.time < %(end)s
      AND e.device_id IN (SELECT device_id FROM devices WHERE owner_id = %(user_id)s)
) happened
GROUP BY bucket ORDER BY bucket DESC
"""
NAIVE_STATS = f"""
SELECT count(*) AS total_records, count(*) FILTER (WHERE r.cry_detected) AS cry_records,
       count(*) FILTER (WHERE r.sick_detected) AS sick_records,
       avg(r.temperature) AS avg_temperature, avg(r.humidity) AS avg_humidity,
       (SELECT count(*) FROM events e WHERE e.kind = 'cry_started'
          AND e.device_id IN (SELECT device_id FROM devices WHERE owner_id = %(user_id)s))
         AS cry_episodes,
       (SELECT max(r2.time) FROM readings r2 WHERE {_NAIVE_MINE.replace("r.", "r2.")}) AS latest
FROM readings r WHERE {_NAIVE_MINE}
"""
NAIVE_SETTINGS = (
    "SET enable_indexscan = off",
    "SET enable_bitmapscan = off",
    "SET enable_indexonlyscan = off",
)

# The approximation of TimescaleDB's readings_hourly (migration 0003) in plain PostgreSQL: the
# same columns, refreshed by hand here. A daily series is re-bucketed from whole hours, weighted
# by record_count; the part-hours at either end of the range come from the raw rows (what a
# real-time continuous aggregate does for its unmaterialized tail).
MATVIEW = "bench_readings_hourly"
CREATE_MATVIEW = (
    f"""
CREATE MATERIALIZED VIEW {MATVIEW} AS
SELECT device_id, date_bin(INTERVAL '1 hour', time, {EPOCH}) AS bucket,
       avg(temperature) AS avg_temperature, avg(humidity) AS avg_humidity,
       count(*) AS record_count
FROM readings WHERE source = 'device' GROUP BY device_id, bucket
""",
    f"CREATE INDEX {MATVIEW}_device_bucket ON {MATVIEW} (device_id, bucket DESC)",
    f"ANALYZE {MATVIEW}",
)
_MY_DEVICES = "SELECT device_id FROM devices WHERE owner_id = %(user_id)s"
_RAW_READINGS = f"""
    SELECT r.time, r.temperature, r.humidity, 1, 1, r.cry_detected::int, r.sick_detected::int
    FROM readings r WHERE r.device_id IN ({_MY_DEVICES}) AND r.source = 'device'"""
MATVIEW_SERIES = f"""
SELECT date_bin(%(bucket)s, time, {EPOCH}) AS bucket,
       sum(temperature * weight) / nullif(sum(weight) FILTER (WHERE temperature IS NOT NULL), 0)
         AS avg_temperature,
       sum(humidity * weight) / nullif(sum(weight) FILTER (WHERE humidity IS NOT NULL), 0)
         AS avg_humidity,
       sum(records) AS record_count, sum(cry) AS cry_count, sum(sick) AS sick_count
FROM (
    SELECT h.bucket AS time, h.avg_temperature AS temperature, h.avg_humidity AS humidity,
           h.record_count AS weight, h.record_count AS records, 0 AS cry, 0 AS sick
    FROM {MATVIEW} h
    WHERE h.device_id IN ({_MY_DEVICES})
      AND h.bucket >= %(start_hour)s AND h.bucket < %(end_hour)s
    UNION ALL {_RAW_READINGS} AND r.time >= %(start)s AND r.time < %(start_hour)s
    UNION ALL {_RAW_READINGS} AND r.time >= %(end_hour)s AND r.time < %(end)s
    UNION ALL
    SELECT r.time, r.temperature, r.humidity, 1, 1, r.cry_detected::int, r.sick_detected::int
    FROM readings r
    WHERE r.user_id = %(user_id)s AND r.source = 'upload'
      AND r.time >= %(start)s AND r.time < %(end)s
    UNION ALL
    SELECT e.time, NULL, NULL, 0, 0, 1, 0 FROM events e
    WHERE e.device_id IN ({_MY_DEVICES}) AND e.kind = 'cry_started'
      AND e.time >= %(start)s AND e.time < %(end)s
) happened
GROUP BY bucket ORDER BY bucket DESC
"""


@dataclass
class Timing:
    name: str
    samples_ms: list[float]
    baseline: str = ""  # the row it is compared with; "" for a baseline itself

    @property
    def p50(self) -> float:
        return float(np.percentile(self.samples_ms, 50))

    @property
    def p95(self) -> float:
        return float(np.percentile(self.samples_ms, 95))


def say(line: str) -> None:
    """Progress, on stderr: stdout is the result."""
    print(line, file=sys.stderr, flush=True)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def hour_ceil(moment: datetime) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(hours=1)


async def time_calls(call: Callable[[], Awaitable[object]], repeats: int) -> list[float]:
    """Latencies (ms) after a warm-up of WARMUP_REQUESTS calls (or WARMUP_BUDGET_S, at least 2),
    of up to ``repeats`` calls (fewer once ROW_BUDGET_S is spent, never below MIN_REQUESTS)."""
    started = time.perf_counter()
    for done in range(WARMUP_REQUESTS):
        if done >= 2 and time.perf_counter() - started > WARMUP_BUDGET_S:
            break
        await call()
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < repeats:
        if len(samples) >= MIN_REQUESTS and time.perf_counter() - started > ROW_BUDGET_S:
            break
        begun = time.perf_counter()
        await call()
        samples.append(1000 * (time.perf_counter() - begun))
    return samples


def api_get(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        response = await client.get(path, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} {params}: {response.status_code} {response.text}")
        return response.json()

    return call


def sql_call(
    conn: psycopg.AsyncConnection[DictRow], query: str, params: dict[str, Any]
) -> Callable[[], Awaitable[list[DictRow]]]:
    async def call() -> list[DictRow]:
        cursor = await conn.execute(query, params)
        return await cursor.fetchall()

    return call


async def explain(
    conn: psycopg.AsyncConnection[DictRow], query: str, params: dict[str, Any]
) -> list[str]:
    """Summary of EXPLAIN ANALYZE: the top node, the scans (rows read), the execution time.
    TIMING OFF: per-node timing more than doubled some of these queries on this VM."""
    cursor = await conn.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + query, params)
    lines = [str(next(iter(row.values()))) for row in await cursor.fetchall()]
    scans = [
        line.strip().removeprefix("->  ")
        for line in lines[1:]
        if "Scan" in line and "Subquery Scan" not in line
    ]
    timing = [
        line.strip() for line in lines if line.startswith(("Execution Time", "Planning Time"))
    ]
    return [lines[0].strip(), *scans[:6], " ".join(timing)]


def series_totals(buckets: Sequence[Mapping[str, Any]]) -> tuple[int, int, int, float]:
    temperatures = [
        float(b["avg_temperature"]) for b in buckets if b["avg_temperature"] is not None
    ]
    return (
        len(buckets),
        sum(int(b["record_count"]) for b in buckets),
        sum(int(b["cry_count"]) for b in buckets),
        round(sum(temperatures), 3),
    )


def check_same(what: str, ours: object, baseline: object) -> None:
    if ours != baseline:
        raise RuntimeError(f"{what}: the API and the baseline disagree: {ours} != {baseline}")


@contextlib.contextmanager
def recorded_statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement the in-process API runs meanwhile, with its parameters, so that EXPLAIN
    sees exactly what the endpoint ran (whatever the storage's SQL looks like today)."""
    statements: list[tuple[str, Any]] = []
    original = psycopg.AsyncCursor.execute

    async def execute(
        self: psycopg.AsyncCursor[Any], query: Any, params: Any = None, **kw: Any
    ) -> Any:
        text = query if isinstance(query, str) else query.as_string(self)
        statements.append((text, params))
        return await original(self, query, params, **kw)

    with mock.patch.object(psycopg.AsyncCursor, "execute", execute):
        yield statements


@dataclass
class QueryResults:
    timings: list[Timing]
    explains: dict[str, list[str]]
    matview_seconds: float


async def query_benchmark(url: str, account: Account, year: LoadedYear, repeats: int,
                          workdir: Path) -> QueryResults:  # fmt: skip
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for statement in CREATE_MATVIEW:
            await conn.execute(statement)
    matview_seconds = time.perf_counter() - started

    user = account.user_id
    day = (year.end - timedelta(days=182)).replace(hour=0, minute=0, second=0, microsecond=0)
    year_start = year.end - timedelta(days=365)
    settings = ApiSettings(database_url=url, jwt_secret=JWT_SECRET, upload_dir=str(workdir / "up"))
    app = create_app(settings)
    timings: list[Timing] = []
    explains: dict[str, list[str]] = {}
    naive = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
    plain = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
    for statement in NAIVE_SETTINGS:
        await naive.execute(statement)
    transport = httpx.ASGITransport(app=app)
    async with (
        naive,
        plain,
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        login = await client.post(
            "/auth/login", json={"email": account.email, "password": account.password}
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

        async def measure_api(name: str, params: dict[str, str], baseline: str) -> Any:
            path = name.split()[2]
            say(f"  {name}")
            call = api_get(client, path, params)
            timings.append(Timing(name, await time_calls(call, repeats), baseline))
            with recorded_statements() as statements:
                answer = await call()
            mine = [(q, p) for q, p in statements if "readings" in q or "events" in q]
            for index, (query, values) in enumerate(mine, 1):
                part = f" (statement {index} of {len(mine)})" if len(mine) > 1 else ""
                explains[name + part] = await explain(plain, query, values)
            return answer

        async def measure_sql(name: str, conn: psycopg.AsyncConnection[DictRow], query: str,
                              params: dict[str, Any], baseline: str = "") -> list[DictRow]:  # fmt: skip
            say(f"  {name}")
            call = sql_call(conn, query, params)
            timings.append(Timing(name, await time_calls(call, repeats), baseline))
            explains[name] = await explain(conn, query, params)
            return await call()

        # -- history: the newest page, and one day six months ago
        newest = "naive SQL: history, newest 100 (seq scan + top-N sort)"
        page = await measure_api("API GET /health/history?limit=100 (newest page)",
                                 {"limit": "100"}, newest)  # fmt: skip
        history: dict[str, Any] = {"user_id": user, "start": None, "end": None, "limit": 100}
        naive_page = await measure_sql(newest, naive, NAIVE_HISTORY, history)
        check_same("history newest page", [r["id"] for r in page], [r["id"] for r in naive_page])

        dated = "naive SQL: history, one day 6 months ago (seq scan)"
        window = {"start_date": iso(day), "end_date": iso(day + timedelta(days=1))}
        page = await measure_api(
            f"API GET /health/history?limit=100&start_date={window['start_date'][:10]}&end_date=+1 day",
            {"limit": "100", **window}, dated,
        )  # fmt: skip
        history = {**history, "start": day, "end": day + timedelta(days=1)}
        naive_page = await measure_sql(dated, naive, NAIVE_HISTORY, history)
        check_same("history 6 months ago", [r["id"] for r in page], [r["id"] for r in naive_page])

        # -- time series: hourly over the default 7 days, daily over the year
        hourly = "naive SQL: hourly series, 7 days (seq scan)"
        await measure_api("API GET /health/timeseries?interval=1 hour (default: 7 days)",
                          {"interval": "1 hour"}, hourly)  # fmt: skip
        week_end = datetime.now(UTC)
        week_start = week_end - timedelta(days=7)
        week = {"user_id": user, "bucket": timedelta(hours=1), "start": week_start, "end": week_end}
        naive_week = await measure_sql(hourly, naive, NAIVE_SERIES, week)
        same_week = await api_get(client, "/health/timeseries", {
            "interval": "1 hour", "start_date": iso(week_start), "end_date": iso(week_end)})()  # fmt: skip
        check_same("hourly series", series_totals(same_week["data"]), series_totals(naive_week))

        daily = "naive SQL: daily series, 1 year (seq scan)"
        await measure_api(f"API GET /health/timeseries?interval=1 day&start_date={iso(year_start)[:10]} (1 year)",
                          {"interval": "1 day", "start_date": iso(year_start)}, daily)  # fmt: skip
        year_end = datetime.now(UTC)
        whole = {"user_id": user, "bucket": timedelta(days=1), "start": year_start, "end": year_end}
        naive_year = await measure_sql(daily, naive, NAIVE_SERIES, whole)
        same_year = await api_get(client, "/health/timeseries", {
            "interval": "1 day", "start_date": iso(year_start), "end_date": iso(year_end)})()  # fmt: skip
        check_same("daily series", series_totals(same_year["data"]), series_totals(naive_year))
        hours = {**whole, "start_hour": hour_ceil(year_start),
                 "end_hour": year_end.replace(minute=0, second=0, microsecond=0)}  # fmt: skip
        approx = await measure_sql(
            "approx. continuous aggregate: plain hourly MATERIALIZED VIEW (SQL only)",
            plain, MATVIEW_SERIES, hours, daily,
        )  # fmt: skip
        check_same("daily series from the view", series_totals(approx), series_totals(naive_year))

        # -- stats
        totals = "naive SQL: stats (seq scan)"
        stats = await measure_api("API GET /health/stats", {}, totals)
        naive_stats = await measure_sql(totals, naive, NAIVE_STATS, {"user_id": user})
        check_same("stats total", stats["total_records"], naive_stats[0]["total_records"])
    return QueryResults(timings, explains, matview_seconds)


def print_query_table(timings: list[Timing]) -> None:
    by_name = {t.name: t for t in timings}
    print("| query | n | p50 ms | p95 ms | x baseline |")
    print("|---|---:|---:|---:|---:|")
    order: list[Timing] = []
    for timing in timings:  # each baseline right after the rows compared with it
        if timing.baseline and timing not in order:
            order += [t for t in timings if t.baseline == timing.baseline and t not in order]
            order.append(by_name[timing.baseline])
    order += [t for t in timings if t not in order]
    for timing in order:
        if timing.baseline:
            ratio = f"{timing.p50 / by_name[timing.baseline].p50:.3g}x"
            name = timing.name
        else:
            ratio, name = "1 (baseline)", timing.name
        print(
            f"| {name} | {len(timing.samples_ms)} | {timing.p50:,.1f} | {timing.p95:,.1f} | {ratio} |"
        )


# ---- 2. fan-out -------------------------------------------------------------------------------


def owner_of(storage: Storage) -> Callable[[StoredAlert], Awaitable[list[int]]]:
    async def recipients(alert: StoredAlert) -> list[int]:
        if alert.user_id is not None:
            return [alert.user_id]
        device = (
            None if alert.device_id is None else await storage.get_device_state(alert.device_id)
        )
        return [] if device is None or device.owner_id is None else [device.owner_id]

    return recipients


def sequential_baseline_app(database_url: str) -> Starlette:
    """The baseline server: the API's own recipients and message, but each alert is sent with
    ``await websocket.send_json`` to one socket after the other (no queues, no sender tasks).
    The token is not checked (connection set-up is not timed)."""
    sockets: dict[int, list[WebSocket]] = {}

    async def alerts(websocket: WebSocket) -> None:
        user_id = int(websocket.path_params["user_id"])
        await websocket.accept()
        sockets.setdefault(user_id, []).append(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets[user_id].remove(websocket)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        storage = await open_storage(database_url)
        # The API's own recipient lookup (Storage.alert_recipients; before it existed, the
        # device's owner from get_device_state).
        recipients = getattr(storage, "alert_recipients", None) or owner_of(storage)

        async def fan_out() -> None:
            async for alert in storage.listen_alerts():
                message = alert_message(alert)
                for user_id in await recipients(alert):
                    for websocket in list(sockets.get(user_id, ())):
                        await websocket.send_json(message)

        task = asyncio.create_task(fan_out())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await storage.close()

    return Starlette(routes=[WebSocketRoute("/ws/{user_id:int}", alerts)], lifespan=lifespan)


@dataclass
class Arrivals:
    """Receive times (perf_counter, system-wide monotonic) per alert id, over all sockets."""

    expected: int
    times: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    complete: dict[int, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    other: int = 0

    def record(self, raw: str | bytes) -> None:
        now = time.perf_counter()
        alert_id = json.loads(raw).get("alert_id")
        if alert_id is None:
            self.other += 1  # HEARTBEAT
            return
        times = self.times[alert_id]
        times.append(now)
        if len(times) == self.expected:
            self.complete[alert_id].set()


async def read_socket(websocket: ClientConnection, arrivals: Arrivals) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in websocket:
            arrivals.record(raw)


async def connect_clients(uri: str, count: int) -> list[ClientConnection]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> ClientConnection:
        async with gate:
            # ping_interval=None: no client pings in the measured window; compression is
            # negotiated as browsers do (permessage-deflate).
            return await connect(uri, ping_interval=None, open_timeout=60, proxy=None)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def commit_alert(conn: psycopg.AsyncConnection[DictRow], device_id: str) -> tuple[int, float]:
    """A device's cry alert, stored and announced (pg_notify) by the storage's own code; returns
    its id and the moment the commit returned."""
    async with conn.transaction():
        alert = await insert_alert(
            conn, device_id, None, AlertKind.CRY_DETECTED.value, datetime.now(UTC),
            "Baby is crying", False, {"confidence": 0.93},
        )  # fmt: skip
    return alert.id, time.perf_counter()


@dataclass
class FanoutRun:
    name: str
    clients: int
    setup_s: float
    first_ms: list[float]
    median_ms: list[float]
    last_ms: list[float]
    window_s: float
    other_messages: int
    server_cpu_ms: float  # per timed alert
    client_cpu_ms: float


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_fanout(name: str, base: str, url: str, account: Account, token: str,
                         clients: int, alerts: int, server_pid: int) -> FanoutRun:  # fmt: skip
    arrivals = Arrivals(clients)
    started = time.perf_counter()
    sockets = await connect_clients(f"{base}/ws/{account.user_id}?token={token}", clients)
    setup_s = time.perf_counter() - started
    readers = [asyncio.create_task(read_socket(ws, arrivals)) for ws in sockets]
    first, middle, last = [], [], []
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        for index in range(WARMUP_ALERTS + alerts):
            if index == WARMUP_ALERTS:
                cpu = process_cpu_s(server_pid), time.process_time()
            alert_id, committed = await commit_alert(conn, account.device_id)
            await asyncio.wait_for(arrivals.complete[alert_id].wait(), ALERT_TIMEOUT_S)
            received = sorted(arrivals.times[alert_id])
            if index >= WARMUP_ALERTS:
                first.append(1000 * (received[0] - committed))
                middle.append(1000 * (statistics.median(received) - committed))
                last.append(1000 * (received[-1] - committed))
            await asyncio.sleep(ALERT_GAP_S)
        server_cpu = 1000 * (process_cpu_s(server_pid) - cpu[0]) / alerts
        client_cpu = 1000 * (time.process_time() - cpu[1]) / alerts
    window_s = time.perf_counter() - started
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return FanoutRun(name, clients, setup_s, first, middle, last, window_s, arrivals.other,
                     server_cpu, client_cpu)  # fmt: skip


async def fanout_benchmark(url: str, account: Account, clients: int, alerts: int,
                           workdir: Path) -> list[FanoutRun]:  # fmt: skip
    env = {"DATABASE_URL": url, "JWT_SECRET": JWT_SECRET, "PYTHONPATH": str(REPO),
           "NURSERY_UPLOAD_DIR": str(workdir / "uploads")}  # fmt: skip
    servers = [
        ("nursery-cloud api (per-socket queue + sender task)",
         [console_script("nursery-cloud"), "api", "--port"]),
        ("baseline: sequential await send_json loop",
         [sys.executable, "-m", "tests.benchmarks.bench_api", "--serve-sequential-baseline", "--port"]),
    ]  # fmt: skip
    # The servers take turns (FANOUT_ROUNDS each), so that a slow spell of this shared machine
    # does not land on one of them only.
    per_round = [
        alerts // FANOUT_ROUNDS + (i < alerts % FANOUT_ROUNDS) for i in range(FANOUT_ROUNDS)
    ]
    runs = []
    for count, (name, argv) in itertools.product([n for n in per_round if n], servers):
        port = free_port()
        server = ManagedProcess([*argv, str(port)], env, workdir / f"server-{port}.log")
        try:
            await asyncio.to_thread(server.wait_for_port, port, 120.0)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", trust_env=False
            ) as http:
                if "baseline" in name:
                    token = "unchecked"
                else:
                    login = await http.post(
                        "/auth/login", json={"email": account.email, "password": account.password}
                    )
                    login.raise_for_status()
                    token = login.json()["access_token"]
            runs.append(await measure_fanout(name, f"ws://127.0.0.1:{port}", url, account, token,
                                             clients, count, server.process.pid))  # fmt: skip
        except BaseException:
            print(server.output()[-4000:], file=sys.stderr)
            raise
        finally:
            server.stop()
    return [merge([run for run in runs if run.name == name]) for name, _ in servers]


def merge(runs: list[FanoutRun]) -> FanoutRun:
    alerts = [len(run.last_ms) for run in runs]
    return FanoutRun(
        name=runs[0].name,
        clients=runs[0].clients,
        setup_s=max(run.setup_s for run in runs),
        first_ms=[ms for run in runs for ms in run.first_ms],
        median_ms=[ms for run in runs for ms in run.median_ms],
        last_ms=[ms for run in runs for ms in run.last_ms],
        window_s=max(run.window_s for run in runs),
        other_messages=sum(run.other_messages for run in runs),
        server_cpu_ms=sum(r.server_cpu_ms * n for r, n in zip(runs, alerts, strict=True))
        / sum(alerts),
        client_cpu_ms=sum(r.client_cpu_ms * n for r, n in zip(runs, alerts, strict=True))
        / sum(alerts),
    )


def print_fanout_table(runs: list[FanoutRun]) -> None:
    baseline = runs[-1]
    print("| server | clients | first client p50 ms | half the clients p50 ms | all clients p50 ms "
          "| all clients p95 ms | x baseline (all, p50) | server CPU ms/alert | client CPU ms/alert |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        last50 = float(np.percentile(run.last_ms, 50))
        ratio = last50 / float(np.percentile(baseline.last_ms, 50))
        print(
            f"| {run.name} | {run.clients:,} | {np.percentile(run.first_ms, 50):.1f} "
            f"| {np.percentile(run.median_ms, 50):.1f} | {last50:.1f} "
            f"| {np.percentile(run.last_ms, 95):.1f} | {ratio:.2f}x | {run.server_cpu_ms:.0f} "
            f"| {run.client_cpu_ms:.0f} |"
        )


# ---- backends ---------------------------------------------------------------------------------

BACKEND_DATABASES: dict[str, Callable[[], contextlib.AbstractContextManager[str]]] = {
    "postgres": fresh_database,
    "timescaledb": fresh_timescaledb_database,
}


@dataclass(frozen=True, slots=True)
class SettledTimescale:
    """What a year in production would have done to the hypertables, done here at once."""

    refresh_s: float
    compress_s: float
    bytes_before: int
    bytes_after: int
    chunks: int
    compressed_chunks: int
    chunk_bytes_before: int  # the compressed chunks alone, before and after
    chunk_bytes_after: int
    compressed_rows: int


@dataclass(frozen=True, slots=True)
class BackendRun:
    backend: str
    version: str
    year: LoadedYear
    results: QueryResults
    settled: SettledTimescale | None


def settle_timescaledb(url: str) -> SettledTimescale:
    """Materialise readings_hourly up to the last whole hour and compress the chunks older than
    the compression policy's 7 days, as the background jobs would have over the year."""
    with psycopg.connect(url, autocommit=True) as conn:
        size = readings_size_sql(conn)
        started = time.perf_counter()
        conn.execute(
            "CALL refresh_continuous_aggregate('readings_hourly', NULL,"
            " date_trunc('hour', now()) - INTERVAL '1 hour')"
        )
        refresh_s = time.perf_counter() - started
        before = conn.execute(size).fetchone()
        started = time.perf_counter()
        for table in ("readings", "events"):
            conn.execute(
                "SELECT count(compress_chunk(c, if_not_compressed => true))"
                " FROM show_chunks(%s::regclass, older_than => INTERVAL '7 days') c",
                (table,),
            )
        compress_s = time.perf_counter() - started
        after = conn.execute(size).fetchone()
        chunks = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_compressed)"
            " FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'"
        ).fetchone()
        stats = conn.execute(
            "SELECT sum(before_compression_total_bytes), sum(after_compression_total_bytes)"
            " FROM chunk_compression_stats('readings') WHERE compression_status = 'Compressed'"
        ).fetchone()
        rows = conn.execute(
            "SELECT count(*) FROM readings WHERE time < now() - INTERVAL '7 days'"
        ).fetchone()
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    assert before is not None
    assert after is not None
    assert chunks is not None
    assert stats is not None
    assert rows is not None
    return SettledTimescale(
        refresh_s, compress_s, int(before[0]), int(after[0]), int(chunks[0]), int(chunks[1]),
        int(stats[0] or 0), int(stats[1] or 0), int(rows[0]),
    )  # fmt: skip


def print_backend(run: BackendRun, args: argparse.Namespace) -> None:
    year, results = run.year, run.results
    print()
    print(f"## {run.backend}: {run.version}")
    print()
    print(f"data: {year.readings:,} device readings ({args.days} days x 8,640), "
          f"{year.cry_episodes:,} cry episodes, {year.uploads:,} uploads; COPY {year.copy_seconds:.0f} s, "
          f"VACUUM ANALYZE + CHECKPOINT {year.vacuum_seconds:.0f} s; readings "
          f"{year.table_bytes / 2**20:,.0f} MiB with indexes")  # fmt: skip
    if run.settled is not None:
        settled = run.settled
        print(f"TimescaleDB: readings_hourly refreshed over all data in {settled.refresh_s:.0f} s; "
              f"{settled.compressed_chunks} of {settled.chunks} readings chunks (older than 7 days) "
              f"compressed in {settled.compress_s:.0f} s: readings {settled.bytes_before / 2**20:,.0f} "
              f"-> {settled.bytes_after / 2**20:,.0f} MiB with indexes "
              f"({settled.bytes_before / max(settled.bytes_after, 1):.1f}x); the compressed chunks "
              f"alone ({settled.compressed_rows:,} readings): {settled.chunk_bytes_before / 2**20:,.1f} "
              f"-> {settled.chunk_bytes_after / 2**20:,.1f} MiB "
              f"({settled.chunk_bytes_before / max(settled.chunk_bytes_after, 1):.1f}x, "
              f"{settled.chunk_bytes_after / max(settled.compressed_rows, 1):.1f} bytes a reading)")  # fmt: skip
    print()
    print(f"History and time series: in-process API (ASGITransport); n timed runs per row (up to "
          f"{args.requests}, at least {MIN_REQUESTS}, {ROW_BUDGET_S:.0f} s budget) after up to "
          f"{WARMUP_REQUESTS} warm-up runs")  # fmt: skip
    print()
    print_query_table(results.timings)
    print()
    print("x baseline = p50 / p50 of the naive query for the same result (below 1 = faster). "
          "API rows include HTTP handling and JSON; SQL rows are the query alone.")  # fmt: skip
    print(f"The materialized-view row approximates a continuous aggregate in plain SQL (created in "
          f"{results.matview_seconds:.1f} s; the API does not read it).")  # fmt: skip
    print()
    print(
        "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) summaries, one run each (the API's statements as it ran them):"
    )
    for name, lines in results.explains.items():
        print(f"- {name}")
        for line in lines:
            print(f"    {line}")


def print_side_by_side(measured: list[BackendRun]) -> None:
    print()
    print("## Side by side: p50 ms (p95 ms)")
    print()
    print("| query | " + " | ".join(run.backend for run in measured) + " |")
    print("|---|" + "---:|" * len(measured))
    for timing in measured[0].results.timings:
        cells = []
        for run in measured:
            same = next((t for t in run.results.timings if t.name == timing.name), None)
            cells.append("-" if same is None else f"{same.p50:,.1f} ({same.p95:,.1f})")
        print(f"| {timing.name} | " + " | ".join(cells) + " |")


# ---- main -------------------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return f"open-files limit {soft} (enough)"
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return f"open-files limit raised from {soft} to {target}"


def postgres_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        timescale = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    assert row is not None
    with_timescale = f"TimescaleDB {timescale[0]}" if timescale else "no TimescaleDB"
    return f"PostgreSQL {row[0]}, {with_timescale}"


def serve_sequential_baseline(port: int) -> int:
    import uvicorn

    app = sequential_baseline_app(os.environ["DATABASE_URL"])
    # As `nursery-cloud api` runs uvicorn (same defaults: uvloop, httptools, websockets).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365, help="days of readings (default 365)")
    parser.add_argument(
        "--clients", type=int, default=1000, help="WebSocket clients (default 1000)"
    )
    parser.add_argument("--requests", type=int, default=50,
                        help=f"timed runs per row (default 50; fewer, but at least {MIN_REQUESTS}, "
                        f"once a row has taken {ROW_BUDGET_S:.0f} s)")  # fmt: skip
    parser.add_argument("--alerts", type=int, default=10, help="timed alerts per server")
    parser.add_argument("--backends", default="postgres,timescaledb",
                        help="query benchmark backends, comma-separated (default both: plain "
                        "PostgreSQL, and TimescaleDB as tests/harness/timescaledb.py finds it)")  # fmt: skip
    parser.add_argument("--serve-sequential-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sequential_baseline:
        return serve_sequential_baseline(args.port)
    begun = time.perf_counter()
    limits = raise_fd_limit(args.clients + 1024)
    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with ExitStack() as stack:
        stack.enter_context(runner)
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        email = "parent@example.com"
        end = datetime.now(UTC).replace(microsecond=0)
        measured: list[BackendRun] = []
        for backend in args.backends.split(","):
            url = stack.enter_context(BACKEND_DATABASES[backend]())
            account = runner.run(create_account(url, email, PASSWORD, DEVICE_ID))
            say(f"{backend}: loading {args.days} days of readings with COPY ...")
            year = load_year(url, account, args.days, end)
            settled = settle_timescaledb(url) if backend == "timescaledb" else None
            say(
                f"  {year.readings:,} readings in {year.copy_seconds:.0f} s; timing the queries ..."
            )
            results = runner.run(query_benchmark(url, account, year, args.requests, workdir))
            measured.append(BackendRun(backend, postgres_version(url), year, results, settled))
        runs: list[FanoutRun] = []
        if args.clients > 0:
            say(f"fan-out to {args.clients} WebSocket clients ...")
            fanout_url = stack.enter_context(fresh_database())
            fanout_account = runner.run(create_account(fanout_url, email, PASSWORD, DEVICE_ID))
            runs = runner.run(fanout_benchmark(fanout_url, fanout_account, args.clients, args.alerts, workdir))  # fmt: skip

    print(f"# API benchmark - {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"uvloop; {limits}")  # fmt: skip
    for backend_run in measured:
        print_backend(backend_run, args)
    if len(measured) > 1:
        print_side_by_side(measured)
    if not runs:
        print(f"\ntotal run time {time.perf_counter() - begun:.0f} s")
        return 0
    print()
    print(f"## Alert fan-out: commit -> message on every socket, {args.clients:,} WebSocket "
          f"connections of one parent, {args.alerts} alerts per server in {FANOUT_ROUNDS} alternating "
          f"rounds, each after {WARMUP_ALERTS} warm-up alerts")  # fmt: skip
    print()
    print_fanout_table(runs)
    print()
    for run in runs:
        print(f"- {run.name}: {run.clients:,} connections opened in up to {run.setup_s:.1f} s (not "
              f"timed); each round over within {run.window_s:.1f} s of its first connection (uvicorn "
              f"pings after 20 s, heartbeats after 25 s); {run.other_messages} heartbeats received")  # fmt: skip
    print(f"\ntotal run time {time.perf_counter() - begun:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
