"""Migrations postgres/0013 and sqlite/0010 on a database an earlier version filled: oversized
dead letters are capped (size and digest first), and device rows dated far in the future
become dead letters (issue 27, findings 3 and 11)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import psycopg

from cloud.storage.postgres.migrations import apply_migrations, bundled_migrations
from cloud.storage.sqlite.migrations import _statements
from tests.harness.postgres import fresh_database

BIG = b"x" * (20 * 1024 * 1024)
NOW = datetime.now(UTC)
FAR = datetime(9999, 12, 31, tzinfo=UTC)
CAP = 16 * 1024


async def test_postgres_migration_caps_dead_letters_and_moves_future_rows() -> None:
    with fresh_database() as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await apply_migrations(conn, [m for m in bundled_migrations() if m.version < "0013"])
            await conn.execute("INSERT INTO devices (device_id) VALUES ('dev-1')")
            await conn.execute(
                "INSERT INTO readings (time, received_at, source, device_id, seq, temperature)"
                " VALUES (%s, %s, 'device', 'dev-1', 1, 21.0),"
                " (%s, %s, 'device', 'dev-1', 2, 30.0)",
                (NOW, NOW, FAR, NOW),
            )
            await conn.execute(
                "INSERT INTO events (time, received_at, device_id, seq, kind, episode_id,"
                " confidence) VALUES (%s, %s, 'dev-1', 3, 'cry_started', 3, 0.9)",
                (FAR, NOW),
            )
            await conn.execute(
                "UPDATE devices SET temperature_considered_until = %s, humidity_considered_until"
                " = %s",
                (FAR, NOW),
            )
            await conn.execute(
                "INSERT INTO dead_letters (received_at, topic, payload, error)"
                " VALUES (%s, 'nursery/v1/dev-1/telemetry', %s, 'too big')",
                (NOW, BIG),
            )
            applied = await apply_migrations(conn, bundled_migrations())
            assert "0013_dead_letter_cap" in applied
            cursor = await conn.execute("SELECT seq FROM readings")
            assert await cursor.fetchall() == [(1,)]
            cursor = await conn.execute("SELECT count(*) FROM events")
            assert await cursor.fetchone() == (0,)
            cursor = await conn.execute(
                "SELECT temperature_considered_until, humidity_considered_until FROM devices"
            )
            assert await cursor.fetchone() == (None, NOW)
            cursor = await conn.execute(
                "SELECT topic, payload, payload_size, payload_sha256, error FROM dead_letters"
                " ORDER BY id"
            )
            big, reading, event = await cursor.fetchall()
    assert (len(big[1]), big[2], big[3]) == (CAP, len(BIG), hashlib.sha256(BIG).hexdigest())
    assert reading[0] == "nursery/v1/dev-1/telemetry"
    assert b'"seq" : 2' in reading[1] or b'"seq": 2' in reading[1]
    assert b"9999-12-31" in reading[1]
    assert reading[2] == len(reading[1])
    assert reading[3] == hashlib.sha256(reading[1]).hexdigest()
    assert "moved here by migration 0013" in reading[4]
    assert event[0] == "nursery/v1/dev-1/event"
    assert b"cry_started" in event[1]


def _run(conn: sqlite3.Connection, wanted: Callable[[str], bool]) -> None:
    """The bundled SQLite migrations whose number ``wanted`` accepts, in order."""
    folder = resources.files("cloud.storage").joinpath("migrations", "sqlite")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql") and wanted(entry.name[:4]):
            for statement in _statements(entry.read_text()):
                conn.execute(statement)


def _db_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_sqlite_migration_caps_dead_letters_and_moves_future_rows(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db")
    _run(conn, lambda number: number < "0010")
    conn.execute(
        "INSERT INTO devices (device_id, created_at) VALUES ('dev-1', ?)", (_db_time(NOW),)
    )
    conn.executemany(
        "INSERT INTO readings (time, received_at, source, device_id, seq, temperature)"
        " VALUES (?, ?, 'device', 'dev-1', ?, ?)",
        [(_db_time(NOW), _db_time(NOW), 1, 21.0), (_db_time(FAR), _db_time(NOW), 2, 30.0)],
    )
    conn.execute("UPDATE devices SET temperature_considered_until = ?", (_db_time(FAR),))
    conn.execute(
        "INSERT INTO dead_letters (received_at, topic, payload, error)"
        " VALUES (?, 'nursery/v1/dev-1/telemetry', ?, 'too big')",
        (_db_time(NOW), BIG),
    )
    _run(conn, lambda number: number == "0010")
    assert conn.execute("SELECT seq FROM readings").fetchall() == [(1,)]
    assert conn.execute("SELECT temperature_considered_until FROM devices").fetchone() == (None,)
    big, reading = conn.execute(
        "SELECT payload, payload_size, error FROM dead_letters ORDER BY id"
    ).fetchall()
    assert (len(big[0]), big[1]) == (CAP, len(BIG))
    assert b"9999-12-31" in reading[0]
    assert reading[1] == len(reading[0])
    assert "moved here by migration 0010" in reading[2]
