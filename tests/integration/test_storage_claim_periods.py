"""A device's data belongs to the claim period it was recorded in (cloud/storage/claim_plan.py),
on every backend: the next owner sees neither the previous family's data nor what the device
recorded while nobody held it, and the previous family no longer sees the device at all.

Everything runs on the real clock, as in the field: each claim, release and reading happens
after the one before it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cloud.storage import Storage
from cloud.storage.records import (
    AlertQuery,
    EventRow,
    HistoryQuery,
    IngestBatch,
    StoredAlert,
    TelemetryRow,
    User,
)

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
