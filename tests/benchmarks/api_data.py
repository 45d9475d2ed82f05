"""A year of one nursery in PostgreSQL, for the API benchmark: one parent, one device reporting
every 10 s, a few cry episodes a day and one app upload a day, bulk-loaded with COPY.

The account and the device go through the storage (``open_storage`` + ``migrate``,
``create_user``, ``register_device``); the rows go straight into ``readings`` and ``events`` with
binary COPY, the way a year of collector batches would have left them, then VACUUM ANALYZE of
the whole database and a CHECKPOINT, so that the measurements start from settled tables with
statistics (as autovacuum would leave them).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, LiteralString

import numpy as np
import numpy.typing as npt
import psycopg

from cloud.alerting import CRY_STARTED
from cloud.api.security import PasswordHasher
from cloud.storage import open_storage

READING_PERIOD_S = 10
CRY_EPISODES_PER_DAY = 5.0
CRY_ENDED = "cry_ended"
DAY_S = 86_400
YEAR_S = 365 * DAY_S
COPY_ROWS_PER_CHUNK = 100_000

FloatArray = npt.NDArray[np.float64]

_READINGS_COPY = (
    "COPY readings (source, device_id, seq, time, received_at, temperature, humidity,"
    " sound_dbfs_avg, sound_dbfs_max) FROM STDIN (FORMAT BINARY)"
)
_READINGS_TYPES = [
    "text", "text", "int8", "timestamptz", "timestamptz", "float8", "float8", "float8", "float8",
]  # fmt: skip
_UPLOADS_COPY = (
    "COPY readings (source, user_id, time, received_at, temperature, humidity) FROM STDIN"
    " (FORMAT BINARY)"
)
_UPLOADS_TYPES = ["text", "int8", "timestamptz", "timestamptz", "float8", "float8"]
_EVENTS_COPY = (
    "COPY events (time, received_at, device_id, seq, kind, episode_id, confidence, sound_dbfs,"
    " duration_s) FROM STDIN (FORMAT BINARY)"
)
_EVENTS_TYPES = [
    "timestamptz", "timestamptz", "text", "int8", "text", "int8", "float8", "float8", "float8",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Account:
    user_id: int
    email: str
    password: str
    device_id: str


@dataclass(frozen=True, slots=True)
class LoadedYear:
    start: datetime
    end: datetime
    readings: int
    uploads: int
    cry_episodes: int
    copy_seconds: float
    vacuum_seconds: float
    table_bytes: int


def readings_size_sql(conn: psycopg.Connection[Any]) -> LiteralString:
    """The readings table's size with indexes (a hypertable's is the sum of its chunks)."""
    timescale = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    if timescale.fetchone() is not None:
        return "SELECT hypertable_size('readings')"
    return "SELECT pg_total_relation_size('readings')"


async def create_account(url: str, email: str, password: str, device_id: str) -> Account:
    """Migrate a fresh database and create the parent and their device through the storage."""
    storage = await open_storage(url)
    try:
        await storage.migrate()
        user = await storage.create_user(email, PasswordHasher().hash(password), "Parent")
        await storage.register_device(device_id, user.id)
    finally:
        await storage.close()
    return Account(user.id, email, password, device_id)


def create_account_sync(url: str, email: str, password: str, device_id: str) -> Account:
    return asyncio.run(create_account(url, email, password, device_id))


def _cry_episodes(
    days: int, span_s: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Start offsets (s from the start) and durations of the year's cry episodes: a Poisson
    number per day, more of them at night, lasting 20 s to 10 min."""
    counts = rng.poisson(CRY_EPISODES_PER_DAY, days)
    starts: list[float] = []
    for day, count in enumerate(counts):
        hours = np.concatenate(
            [rng.uniform(0, 24, count // 2), rng.uniform(0, 6, count - count // 2)]
        )
        starts += (day * DAY_S + hours * 3600).tolist()
    durations = np.clip(rng.lognormal(math.log(90.0), 0.8, len(starts)), 20.0, 600.0)
    start = np.asarray(starts)
    keep = start + durations < span_s - READING_PERIOD_S
    order = np.argsort(start[keep])
    return start[keep][order], durations[keep][order]


def _climate(offsets: FloatArray, start: datetime, rng: np.random.Generator) -> list[FloatArray]:
    """Room temperature and humidity with a daily and a seasonal cycle, and sound levels."""
    n = len(offsets)
    epoch = start.timestamp() + offsets
    day = 2 * math.pi * (epoch % DAY_S) / DAY_S
    season = 2 * math.pi * offsets / YEAR_S
    temperature = 21.0 + 0.8 * np.sin(day - 2.0) - 1.5 * np.cos(season) + rng.normal(0, 0.15, n)
    humidity = np.clip(
        47.0 + 6.0 * np.sin(season + 1.0) - 3.0 * np.sin(day) + rng.normal(0, 1.0, n), 15.0, 90.0
    )
    sound_avg = -62.0 + rng.normal(0, 2.0, n)
    sound_max = sound_avg + rng.gamma(2.0, 4.0, n)
    return [np.round(a, 2) for a in (temperature, humidity, sound_avg, sound_max)]


def load_year(url: str, account: Account, days: int, end: datetime, seed: int = 7) -> LoadedYear:
    """COPY ``days`` of 10-second readings ending at ``end``, the cry events and daily uploads."""
    rng = np.random.default_rng(seed)
    span_s = days * DAY_S
    start = end - timedelta(seconds=span_s)
    count = span_s // READING_PERIOD_S
    offsets = np.arange(count, dtype=np.float64) * READING_PERIOD_S
    temperature, humidity, sound_avg, sound_max = _climate(offsets, start, rng)
    cry_start, cry_duration = _cry_episodes(days, span_s, rng)
    for begin, length in zip(cry_start, cry_duration, strict=True):
        first, last = math.ceil(begin / READING_PERIOD_S), int((begin + length) // READING_PERIOD_S)
        sound_avg[first : last + 1] = np.round(rng.uniform(-38.0, -30.0), 2)
        sound_max[first : last + 1] = np.round(rng.uniform(-24.0, -15.0), 2)
    # One seq counter per device for telemetry and events (docs/protocol.md); at equal times
    # the reading comes first.
    event_offsets = np.concatenate([cry_start, cry_start + cry_duration])
    event_kinds = [CRY_STARTED] * len(cry_start) + [CRY_ENDED] * len(cry_start)
    event_order = np.argsort(event_offsets, kind="stable")
    event_offsets = event_offsets[event_order]
    reading_seq = np.arange(count) + np.searchsorted(event_offsets, offsets, side="left")
    event_seq = np.arange(len(event_offsets)) + np.searchsorted(offsets, event_offsets, "right")
    delay = rng.uniform(0.05, 0.4, count)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(_READINGS_COPY) as copy:
            copy.set_types(_READINGS_TYPES)
            for low in range(0, count, COPY_ROWS_PER_CHUNK):
                chunk = slice(low, low + COPY_ROWS_PER_CHUNK)
                for offset, seq, lag, temp, hum, avg, peak in zip(
                    offsets[chunk].tolist(), reading_seq[chunk].tolist(), delay[chunk].tolist(),
                    temperature[chunk].tolist(), humidity[chunk].tolist(),
                    sound_avg[chunk].tolist(), sound_max[chunk].tolist(), strict=True,
                ):  # fmt: skip
                    moment = start + timedelta(seconds=offset)
                    copy.write_row((
                        "device", account.device_id, seq, moment,
                        moment + timedelta(seconds=lag), temp, hum, avg, peak,
                    ))  # fmt: skip
        episode_seq: dict[int, int] = {}
        with conn.cursor().copy(_EVENTS_COPY) as copy:
            copy.set_types(_EVENTS_TYPES)
            for index in range(len(event_offsets)):
                original = int(event_order[index])
                offset = float(event_offsets[index])
                seq = int(event_seq[index])
                kind = event_kinds[original]
                episode = original % len(cry_start)
                if kind == CRY_STARTED:
                    episode_seq[episode] = seq
                moment = start + timedelta(seconds=offset)
                copy.write_row((
                    moment, moment + timedelta(seconds=0.2), account.device_id, seq, kind,
                    episode_seq[episode], float(rng.uniform(0.7, 0.99)),
                    float(rng.uniform(-30.0, -15.0)),
                    float(cry_duration[episode]) if kind == CRY_ENDED else None,
                ))  # fmt: skip
        uploads = 0
        with conn.cursor().copy(_UPLOADS_COPY) as copy:
            copy.set_types(_UPLOADS_TYPES)
            for day in range(days):
                moment = start + timedelta(days=day, hours=float(rng.uniform(7.0, 21.0)))
                copy.write_row((
                    "upload", account.user_id, moment, moment + timedelta(seconds=1),
                    round(float(rng.normal(36.9, 0.3)), 1), round(float(rng.uniform(35, 60)), 1),
                ))  # fmt: skip
                uploads += 1
        conn.commit()
    copied = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # Every table: the planner needs statistics on devices and device_members too (the
        # one-device tables would otherwise keep default estimates that change the plans).
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
        row = conn.execute(readings_size_sql(conn)).fetchone()
    assert row is not None
    return LoadedYear(
        start=start,
        end=end,
        readings=count,
        uploads=uploads,
        cry_episodes=len(cry_start),
        copy_seconds=copied,
        vacuum_seconds=time.perf_counter() - started,
        table_bytes=int(row[0]),
    )
