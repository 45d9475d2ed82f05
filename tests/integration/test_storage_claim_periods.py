"""A device's data belongs to the claim period it was recorded in (cloud/storage/claim_plan.py),
on every backend: the next owner sees neither the previous family's data nor what the device
recorded while nobody held it, and the previous family no longer sees the device at all.

Everything runs on the real clock, as in the field: each claim, release and reading happens
after the one before it.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from cloud.storage import Storage
from cloud.storage.postgres.migrations import apply_migrations as apply_postgres_migrations
from cloud.storage.postgres.migrations import bundled_migrations
from cloud.storage.records import (
    AlertQuery,
    EventRow,
    HistoryQuery,
    IngestBatch,
    StoredAlert,
    TelemetryRow,
    User,
)
from cloud.storage.sqlite.database import to_db_time
from cloud.storage.sqlite.migrations import apply_migrations as apply_sqlite_migrations
from tests.harness.postgres import fresh_database

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def now() -> datetime:
    return datetime.now(UTC)


async def new_user(storage: Storage) -> User:
    return await storage.create_user(f"{unique('parent')}@example.com", "hash", None)


async def claim(storage: Storage, user: User, device_id: str) -> None:
    code_hash = unique("code")
    await storage.set_claim_code(device_id, code_hash, now() + DAY)
    assert await storage.claim_device(user.id, code_hash, now(), None) is not None


async def record(
    storage: Storage, device_id: str, seq: int, temperature: float, recorded_at: datetime
) -> list[StoredAlert]:
    """A reading and a whole cry episode recorded at ``recorded_at``, received now; every cry
    alarms (no cooldown)."""
    await storage.set_device_settings(device_id, {"alarm_cooldown_s": 0.0})
    received = now()
    result = await storage.ingest(IngestBatch(
        readings=[TelemetryRow(device_id, seq, recorded_at, received, temperature, 40.0,
                               -50.0, -30.0)],
        events=[
            EventRow(device_id, seq + 1, recorded_at, received, "cry_started", seq, 0.9,
                     -20.0, None),
            EventRow(device_id, seq + 2, recorded_at + MINUTE / 2, received, "cry_ended", seq,
                     0.9, -20.0, 30.0),
        ],
    ))  # fmt: skip
    return result.alerts


async def test_the_next_owner_sees_only_what_was_recorded_since_their_claim(
    storage: Storage,
) -> None:
    alice, bob = await new_user(storage), await new_user(storage)
    device_id = unique("dev")
    await claim(storage, alice, device_id)
    alices_alerts = await record(storage, device_id, 10, 20.0, now())
    assert [a.kind for a in alices_alerts] == ["CRY_DETECTED"]
    assert len(await storage.list_health_records(alice.id, HistoryQuery())) == 1

    await storage.unclaim_device(alice.id, device_id)
    # Recorded while nobody held the device: nobody's.
    unclaimed = now()
    nobodys_alerts = await record(storage, device_id, 20, 30.0, unclaimed)
    assert [a.kind for a in nobodys_alerts] == ["CRY_DETECTED"]

    also_unclaimed = now()
    await claim(storage, bob, device_id)
    # The device's outbox replays what it recorded while unclaimed only after Bob's claim: still
    # nobody's, and its alert is told to no one.
    replayed_alerts = await record(storage, device_id, 30, 31.0, also_unclaimed)
    assert [a.kind for a in replayed_alerts] == ["CRY_DETECTED"]
    bobs_time = now()
    bobs_alerts = await record(storage, device_id, 40, 25.0, bobs_time)
    assert [a.kind for a in bobs_alerts] == ["CRY_DETECTED"]

    history = await storage.list_health_records(bob.id, HistoryQuery())
    assert [(r.device_id, r.temperature, r.created_at) for r in history] == [
        (device_id, 25.0, bobs_time)
    ]
    stats = await storage.health_stats(bob.id)
    assert (stats.total_records, stats.cry_detected_count, stats.avg_temperature) == (1, 1, 25.0)
    assert stats.latest_record == history[0]
    buckets = await storage.health_timeseries(
        bob.id, timedelta(hours=1), bobs_time - DAY, bobs_time + DAY
    )
    assert [(b.record_count, b.cry_count, b.avg_temperature) for b in buckets] == [(1, 1, 25.0)]
    episodes = await storage.list_cry_episodes(bob.id, device_id, None, None, 10)
    assert [e.started_at for e in episodes] == [bobs_time]
    alerts = await storage.list_user_alerts(bob.id, AlertQuery())
    assert [a.id for a in alerts] == [a.id for a in bobs_alerts]
    assert await storage.count_unread_alerts(bob.id) == 1
    assert await storage.mark_alerts_read(bob.id, None, now()) == 1
    for alert in [*alices_alerts, *nobodys_alerts, *replayed_alerts]:
        assert await storage.alert_recipients(alert) == []
        assert await storage.acknowledge_alert(bob.id, alert.id, now()) is None
        assert await storage.list_alert_transitions(bob.id, alert.id) is None
    assert await storage.alert_recipients(bobs_alerts[0]) == [bob.id]
    # Only Bob's own alarm escalates: none raised before his claim, not even the replayed one.
    # (The session's database is shared: other tests' alarms may fall due too.)
    escalated = await storage.escalate_due(now() + DAY)
    assert [a.id for a in escalated if a.device_id == device_id] == [bobs_alerts[0].id]
    stats_since = await storage.delivery_stats(bob.id, device_id, bobs_time - DAY)
    assert stats_since is not None
    assert stats_since.alerts == 1

    # Alice let go: the device and everything it recorded are gone for her.
    assert await storage.list_devices(alice.id) == []
    assert await storage.list_health_records(alice.id, HistoryQuery()) == []
    assert await storage.list_user_alerts(alice.id, AlertQuery()) == []
    assert (await storage.health_stats(alice.id)).total_records == 0


async def test_an_operator_handing_a_device_on_starts_a_new_period(storage: Storage) -> None:
    alice, bob = await new_user(storage), await new_user(storage)
    device_id = unique("dev")
    await storage.register_device(device_id, alice.id)
    # Registered with its owner: all of it is Alice's, even what the device dated earlier.
    await record(storage, device_id, 10, 20.0, now() - DAY)
    assert len(await storage.list_health_records(alice.id, HistoryQuery())) == 1

    await storage.register_device(device_id, bob.id)
    assert await storage.list_health_records(bob.id, HistoryQuery()) == []
    assert (await storage.health_stats(bob.id)).cry_detected_count == 0
    assert await storage.list_cry_episodes(bob.id, device_id, None, None, 10) == []
    assert await storage.list_user_alerts(bob.id, AlertQuery()) == []
    bobs_time = now()
    await record(storage, device_id, 20, 25.0, bobs_time)
    history = await storage.list_health_records(bob.id, HistoryQuery())
    assert [(r.temperature, r.created_at) for r in history] == [(25.0, bobs_time)]
    assert await storage.list_health_records(alice.id, HistoryQuery()) == []


# --- the migration: existing claims become claim periods ---------------------------------------

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
# device id -> (created_at, claimed_at, history_from before, history_from after)
EXISTING: dict[str, tuple[datetime, datetime | None, datetime | None, datetime | None]] = {
    "registered-with-owner": (T0, T0, None, None),
    "claimed-with-a-code": (T0, T0 + HOUR, None, T0 + HOUR),
    "claimed-again-after-unclaim": (T0, T0 + 3 * HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR),
    "unclaimed": (T0, None, T0 + 2 * HOUR, T0 + 2 * HOUR),
}


async def test_postgres_migration_starts_each_claim_period_at_its_claim() -> None:
    with fresh_database() as url:
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, row_factory=dict_row
        ) as conn:
            migrations = bundled_migrations()
            await apply_postgres_migrations(conn, [m for m in migrations if m.version < "0012"])
            for device_id, (created, claimed, history_from, _) in EXISTING.items():
                await conn.execute(
                    "INSERT INTO devices (device_id, created_at, claimed_at, history_from)"
                    " VALUES (%s, %s, %s, %s)",
                    (device_id, created, claimed, history_from),
                )
            up_to_claim_periods = [m for m in migrations if m.version <= "0012_claim_periods"]
            applied = await apply_postgres_migrations(conn, up_to_claim_periods)
            assert applied == ["0012_claim_periods"]
            cursor = await conn.execute("SELECT device_id, history_from FROM devices")
            found = {row["device_id"]: row["history_from"] for row in await cursor.fetchall()}
    assert found == {device_id: after for device_id, (*_, after) in EXISTING.items()}


def test_sqlite_migration_starts_each_claim_period_at_its_claim(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    folder = resources.files("cloud.storage").joinpath("migrations", "sqlite")
    conn.execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT)")
    earlier = sorted(e.name for e in folder.iterdir() if e.name.endswith(".sql"))
    for name in earlier[: earlier.index("0009_claim_periods.sql")]:
        conn.executescript(folder.joinpath(name).read_text())
        conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (name[:-4],))

    def db_time(moment: datetime | None) -> str | None:
        return None if moment is None else to_db_time(moment)

    for device_id, (created, claimed, history_from, _) in EXISTING.items():
        conn.execute(
            "INSERT INTO devices (device_id, created_at, claimed_at, history_from)"
            " VALUES (?, ?, ?, ?)",
            (device_id, db_time(created), db_time(claimed), db_time(history_from)),
        )
    # Later migrations may follow; this one must be among those applied now.
    assert "0009_claim_periods" in apply_sqlite_migrations(conn)
    found = dict(tuple(row) for row in conn.execute("SELECT device_id, history_from FROM devices"))
    conn.close()
    assert found == {device_id: db_time(after) for device_id, (*_, after) in EXISTING.items()}
