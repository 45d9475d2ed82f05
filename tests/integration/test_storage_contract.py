"""The storage contract, run against every backend: migrations, ingest semantics, history.

One suite, several implementations: whatever passes here behaves the same for the collector
and the API.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cloud.storage import DuplicateEmailError, Storage
from cloud.storage.records import (
    DeadLetter,
    EventRow,
    HistoryQuery,
    IngestBatch,
    StatusRow,
    TelemetryRow,
)

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def reading(
    device_id: str, seq: int, temperature: float = 20.0, humidity: float = 45.0
) -> TelemetryRow:
    time = T0 + timedelta(seconds=10 * seq)
    return TelemetryRow(device_id, seq, time, time + timedelta(seconds=0.2), temperature, humidity,
                        -60.0, -40.0, raw=b'{"seq": %d}' % seq)  # fmt: skip


def cry(device_id: str, seq: int, kind: str = "cry_started") -> EventRow:
    time = T0 + timedelta(seconds=10 * seq + 1)
    return EventRow(device_id, seq, time, time, kind, seq, 0.93, -30.0, None, raw=b"{}")


def status(device_id: str, seconds: float, online: bool) -> StatusRow:
    time = T0 + timedelta(seconds=seconds)
    return StatusRow(device_id, 0, time, time, online, "0.1.0", "cry-1", {"uptime_s": 5.0})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_device(storage: Storage) -> tuple[int, str]:
    owner = await storage.create_user(f"{unique('owner')}@example.com", "hash", None)
    device_id = unique("dev")
    await storage.register_device(device_id, owner.id)
    return owner.id, device_id


async def test_migrations_are_idempotent_and_safe_concurrently(storage: Storage) -> None:
    results = await asyncio.gather(*(storage.migrate() for _ in range(3)))
    assert all(result == [] for result in results)


async def test_duplicate_email_is_refused_case_insensitively(storage: Storage) -> None:
    email = f"{unique('dup')}@example.com"
    await storage.create_user(email, "hash", None)
    with pytest.raises(DuplicateEmailError):
        await storage.create_user(email.upper(), "hash", None)
    credentials = await storage.get_credentials(email.upper())
    assert credentials is not None
    assert credentials.user.email == email


async def test_redelivered_rows_are_stored_once(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    first = await storage.ingest(
        IngestBatch(readings=[reading(device_id, 0), reading(device_id, 1)])
    )
    assert (first.readings_stored, first.duplicates) == (2, 0)
    again = IngestBatch(
        readings=[reading(device_id, 1), reading(device_id, 2), reading(device_id, 2)],
        events=[cry(device_id, 3), cry(device_id, 3)],
    )
    second = await storage.ingest(again)
    assert (second.readings_stored, second.events_stored, second.duplicates) == (1, 1, 3)
    history = await storage.list_health_records(owner_id, HistoryQuery())
    assert [record.created_at for record in history] == [
        reading(device_id, s).time for s in (2, 1, 0)
    ]
    assert {record.source for record in history} == {"device"}
    assert {record.user_id for record in history} == {owner_id}


async def test_unknown_devices_and_bad_messages_become_dead_letters(storage: Storage) -> None:
    _owner_id, device_id = await new_device(storage)
    stranger = unique("unknown")
    garbage = DeadLetter("nursery/v1/x/telemetry", b"\xff{", "not JSON", T0)
    result = await storage.ingest(
        IngestBatch(readings=[reading(stranger, 0), reading(device_id, 0)], dead_letters=[garbage])
    )
    assert (result.readings_stored, result.dead_letters) == (1, 2)
    letters = await storage.list_dead_letters(limit=10)
    unknown = next(letter for letter in letters if stranger in letter.topic)
    assert unknown.topic == f"nursery/v1/{stranger}/telemetry"
    assert unknown.payload == b'{"seq": 0}'
    assert unknown.error == "unknown device"
    assert any(letter.payload == b"\xff{" and letter.error == "not JSON" for letter in letters)


async def test_history_is_private_filtered_and_paged(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    stranger = await storage.create_user(f"{unique('stranger')}@example.com", "hash", None)
    await storage.ingest(IngestBatch(readings=[reading(device_id, s, 20.0 + s) for s in range(10)]))
    assert await storage.list_health_records(stranger.id, HistoryQuery()) == []
    page = await storage.list_health_records(owner_id, HistoryQuery(limit=3, offset=2))
    assert [record.temperature for record in page] == [27.0, 26.0, 25.0]
    window = await storage.list_health_records(
        owner_id, HistoryQuery(start=reading(device_id, 3).time, end=reading(device_id, 5).time)
    )
    assert [record.temperature for record in window] == [25.0, 24.0, 23.0]
    assert await storage.list_health_records(owner_id, HistoryQuery(cry_detected=True)) == []


async def test_cry_event_raises_one_alert_even_when_redelivered(storage: Storage) -> None:
    _owner_id, device_id = await new_device(storage)
    first = await storage.ingest(IngestBatch(events=[cry(device_id, 1)]))
    again = await storage.ingest(
        IngestBatch(events=[cry(device_id, 1), cry(device_id, 2, "cry_ended")])
    )
    assert [alert.kind for alert in first.alerts] == ["CRY_DETECTED"]
    assert again.alerts == []
    stored = await storage.list_alerts(device_id)
    assert [(alert.kind, alert.sick_detected) for alert in stored] == [("CRY_DETECTED", False)]


async def test_climate_alerts_once_after_grace_and_recovers(storage: Storage) -> None:
    _owner_id, device_id = await new_device(storage)
    await storage.set_device_settings(device_id, {"climate_grace_s": 25})
    hot = [reading(device_id, s, temperature=25.0) for s in range(4)]  # 0..30 s out of range
    results = [await storage.ingest(IngestBatch(readings=[row])) for row in hot]
    assert [len(result.alerts) for result in results] == [0, 0, 0, 1]
    assert results[3].alerts[0].kind == "CLIMATE_OUT_OF_RANGE"
    assert results[3].alerts[0].details["metric"] == "temperature"
    recovered = await storage.ingest(
        IngestBatch(readings=[reading(device_id, 4, temperature=20.0)])
    )
    assert [alert.kind for alert in recovered.alerts] == ["CLIMATE_NORMAL"]


def late_reading(device_id: str, seq: int, seconds: float, temperature: float) -> TelemetryRow:
    """A new message (unseen seq) taken earlier than readings already stored: an outbox backlog
    delivered after live traffic."""
    time = T0 + timedelta(seconds=seconds)
    return TelemetryRow(device_id, seq, time, time + timedelta(minutes=5), temperature, 45.0,
                        None, None, raw=b"{}")  # fmt: skip


async def test_a_reading_older_than_those_the_rules_saw_is_stored_but_not_evaluated(
    storage: Storage,
) -> None:
    _owner_id, device_id = await new_device(storage)
    await storage.set_device_settings(device_id, {"climate_grace_s": 25})
    for seq in range(4):  # in range up to 30 s
        await storage.ingest(IngestBatch(readings=[reading(device_id, seq, temperature=20.0)]))
    late = await storage.ingest(
        IngestBatch(readings=[late_reading(device_id, 100, seconds=5, temperature=25.0)])
    )
    assert (late.readings_stored, late.alerts) == (1, [])
    # Hot from 40 s: the grace period starts there, not at the late reading's 5 s.
    results = [
        await storage.ingest(IngestBatch(readings=[reading(device_id, seq, temperature=25.0)]))
        for seq in (4, 5, 6, 7)
    ]
    assert [len(result.alerts) for result in results] == [0, 0, 0, 1]


async def test_batches_handed_in_together_are_applied_in_the_order_handed_in(
    storage: Storage,
) -> None:
    # The collector commits a batch while the next is already being written. A small batch
    # right behind a large one would finish its inserts first; the rules must still see the
    # device's readings in order: the large batch's heat alarm, then the small one's recovery
    # (out of order, the recovery would come first and the hot readings be ignored as replays).
    _owner_id, device_id = await new_device(storage)
    await storage.set_device_settings(device_id, {"climate_grace_s": 25})
    # Connections ready for both at once (the pool opens more only when asked to wait).
    await asyncio.gather(*(storage.get_device_state(device_id) for _ in range(4)))
    hot = IngestBatch(readings=[reading(device_id, s, temperature=25.0) for s in range(2000)])
    recovered = IngestBatch(readings=[reading(device_id, 2000, temperature=20.0)])
    first, second = await asyncio.gather(storage.ingest(hot), storage.ingest(recovered))
    assert [alert.kind for alert in first.alerts] == ["CLIMATE_OUT_OF_RANGE"]
    assert [alert.kind for alert in second.alerts] == ["CLIMATE_NORMAL"]


async def test_overlapping_batches_with_the_same_message_store_it_once(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    first, second = await asyncio.gather(
        storage.ingest(IngestBatch(readings=[reading(device_id, 0), reading(device_id, 1)])),
        storage.ingest(IngestBatch(readings=[reading(device_id, 1), reading(device_id, 2)])),
    )
    assert (first.readings_stored, second.readings_stored, second.duplicates) == (2, 1, 1)
    history = await storage.list_health_records(owner_id, HistoryQuery())
    assert len(history) == 3


async def test_presence_offline_alert_after_grace_and_back_online(storage: Storage) -> None:
    _owner_id, device_id = await new_device(storage)
    await storage.set_device_settings(device_id, {"offline_grace_s": 60})
    await storage.ingest(IngestBatch(statuses=[status(device_id, 0, True)]))
    state = await storage.get_device_state(device_id)
    assert state is not None
    assert (state.online, state.firmware_version, state.model_version) == (True, "0.1.0", "cry-1")
    await storage.ingest(IngestBatch(statuses=[status(device_id, 10, False)]))
    # an older retained status replayed later changes nothing
    await storage.ingest(IngestBatch(statuses=[status(device_id, 5, True)]))
    state = await storage.get_device_state(device_id)
    assert state is not None
    assert state.online is False
    assert await storage.check_offline(T0 + timedelta(seconds=30)) == []
    alerts = await storage.check_offline(T0 + timedelta(seconds=80))
    assert [(a.device_id, a.kind) for a in alerts] == [(device_id, "DEVICE_OFFLINE")]
    assert await storage.check_offline(T0 + timedelta(seconds=200)) == []
    back = await storage.ingest(IngestBatch(statuses=[status(device_id, 300, True)]))
    assert [alert.kind for alert in back.alerts] == ["DEVICE_ONLINE"]


async def test_clock_drift_is_flagged_from_the_newest_message(storage: Storage) -> None:
    _owner_id, device_id = await new_device(storage)
    now = datetime.now(UTC)
    late = TelemetryRow(device_id, 7, now - timedelta(hours=2), now, 20.0, 45.0, None, None)
    await storage.ingest(IngestBatch(readings=[late]))
    state = await storage.get_device_state(device_id)
    assert state is not None
    assert state.clock_drift is True
    assert state.max_seq == 7
    assert state.clock_offset_s == pytest.approx(7200, abs=1)
    fine = TelemetryRow(device_id, 8, now, now + timedelta(seconds=0.3), 20.0, 45.0, None, None)
    await storage.ingest(IngestBatch(readings=[fine]))
    state = await storage.get_device_state(device_id)
    assert state is not None
    assert state.clock_drift is False


async def test_alerts_are_announced_after_commit(storage: Storage) -> None:
    _owner_id, device_id = await new_device(storage)
    feed = storage.listen_alerts()
    first = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.3)  # the listener is subscribed before the alert is committed
    result = await storage.ingest(IngestBatch(events=[cry(device_id, 5)]))
    announced = await asyncio.wait_for(first, timeout=5)
    assert announced == result.alerts[0]
    await feed.aclose()  # type: ignore[attr-defined]


async def test_the_newest_new_reading_of_each_device_is_announced_live(storage: Storage) -> None:
    _owner, first_device = await new_device(storage)
    _owner, second_device = await new_device(storage)
    feed = storage.listen_readings()
    received = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.3)  # subscribed before the batch commits
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        TelemetryRow(
            first_device, seq, now + timedelta(seconds=seq), now, 20.0 + seq, 45.0, None, None
        )
        for seq in (1, 3, 2)
    ] + [TelemetryRow(second_device, 1, now, now, 19.0, 50.0, -60.0, -50.0)]
    result = await storage.ingest(IngestBatch(readings=rows))
    announced = [await asyncio.wait_for(received, timeout=5)]
    announced.append(await asyncio.wait_for(anext(feed), timeout=5))
    by_device = {row.device_id: row for row in announced}
    assert (by_device[first_device].seq, by_device[first_device].temperature) == (3, 23.0)
    assert by_device[second_device].sound_dbfs_max == -50.0
    assert sorted(r.device_id for r in result.latest_readings) == sorted(by_device)
    # A redelivered batch stores nothing new and announces nothing.
    again = await storage.ingest(IngestBatch(readings=rows))
    assert again.latest_readings == []
    await feed.aclose()  # type: ignore[attr-defined]
