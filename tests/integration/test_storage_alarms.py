"""Acknowledge-or-escalate, delivery records, device faults and gaps, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.storage import Storage, gap_plan
from cloud.storage.records import AlertDelivery, EventRow, IngestBatch, StatusRow, StoredAlert
from tests.integration.test_storage_contract import T0, cry, new_device, reading, unique


async def _with_caregiver(storage: Storage) -> tuple[int, int, str]:
    owner_id, device_id = await new_device(storage)
    carer = await storage.create_user(f"{unique('carer')}@example.com", "hash", None)
    owner = await storage.get_user(owner_id)
    assert owner is not None
    await storage.add_caregiver(owner_id, device_id, carer.email)
    return owner_id, carer.id, device_id


async def _set(storage: Storage, device_id: str, **settings: float) -> None:
    await storage.set_device_settings(device_id, settings)


async def _escalate(storage: Storage, now: datetime, alert_id: int) -> list[StoredAlert]:
    """What escalates of this alert (the session database holds other tests' alarms too)."""
    return [alert for alert in await storage.escalate_due(now) if alert.id == alert_id]


async def test_a_cry_alarm_escalates_down_the_order_until_acknowledged(storage: Storage) -> None:
    owner_id, carer_id, device_id = await _with_caregiver(storage)
    await _set(storage, device_id, cry_escalate_after_s=1.0)
    result = await storage.ingest(IngestBatch(events=[cry(device_id, 1)]))
    (alert,) = result.alerts
    assert alert.needs_ack
    assert alert.received_at == cry(device_id, 1).received_at
    assert alert.escalation_level == 0

    now = datetime.now(UTC)
    assert await _escalate(storage, now, alert.id) == [], "not due before escalate_after_s"
    (escalated,) = await _escalate(storage, now + timedelta(seconds=1.5), alert.id)
    assert escalated.id == alert.id
    assert escalated.announcement == "escalated"
    assert escalated.escalation_level == 1
    assert escalated.targets == (owner_id, carer_id), "the second caregiver is added"
    # Two members: level 1 is the last; nothing more is due.
    assert await _escalate(storage, now + timedelta(seconds=60), alert.id) == []

    taken = await storage.acknowledge_alert(carer_id, alert.id, now + timedelta(seconds=2))
    assert taken is not None
    assert taken.announcement == "acknowledged"
    assert taken.acknowledged_by == carer_id
    again = await storage.acknowledge_alert(owner_id, alert.id, now + timedelta(seconds=3))
    assert again is not None
    assert again.acknowledged_by == carer_id, "the first acknowledgement stands"
    assert again.announcement == "raised", "a repeat is not announced again"

    steps = await storage.list_alert_transitions(owner_id, alert.id)
    assert steps is not None
    assert [(s.transition, s.user_id, s.level) for s in steps] == [
        ("raised", None, 0),
        ("escalated", carer_id, 1),
        ("acknowledged", carer_id, 1),
    ]
    stranger = await storage.create_user(f"{unique('x')}@example.com", "hash", None)
    assert await storage.acknowledge_alert(stranger.id, alert.id, now) is None
    assert await storage.list_alert_transitions(stranger.id, alert.id) is None


async def test_an_acknowledged_alarm_never_escalates(storage: Storage) -> None:
    owner_id, _carer, device_id = await _with_caregiver(storage)
    await _set(storage, device_id, cry_escalate_after_s=1.0)
    (alert,) = (await storage.ingest(IngestBatch(events=[cry(device_id, 1)]))).alerts
    await storage.acknowledge_alert(owner_id, alert.id, datetime.now(UTC))
    assert await _escalate(storage, datetime.now(UTC) + timedelta(hours=1), alert.id) == []


async def test_a_long_crying_bout_is_one_alarm(storage: Storage) -> None:
    _owner, device_id = await new_device(storage)
    await _set(storage, device_id, alarm_cooldown_s=120.0)
    starts = [cry(device_id, seq) for seq in (1, 3, 5)]  # 20 s apart, device time
    result = await storage.ingest(IngestBatch(events=starts))
    assert [a.kind for a in result.alerts] == ["CRY_DETECTED"]
    later = EventRow(device_id, 40, T0 + timedelta(seconds=401), T0, "cry_started", 40, 0.9,
                     -30.0, None, raw=b"{}")  # fmt: skip
    assert [a.kind for a in (await storage.ingest(IngestBatch(events=[later]))).alerts] == [
        "CRY_DETECTED"
    ], "after the cooldown a new bout alarms again"


async def test_loud_sound_and_new_device_faults_alert(storage: Storage) -> None:
    _owner, device_id = await new_device(storage)
    loud = EventRow(device_id, 2, T0, T0, "loud_sound", 2, 1.0, -14.0, 6.0, raw=b"{}")
    sick_mic = StatusRow(device_id, 2, T0, T0, True, "1", "m", {
        "faults": ["microphone_dead"],
        "fault_details": {"microphone_dead": "all samples zero for 30 s"},
    })  # fmt: skip
    result = await storage.ingest(IngestBatch(events=[loud], statuses=[sick_mic]))
    kinds = {a.kind: a for a in result.alerts}
    assert kinds["LOUD_SOUND"].needs_ack
    assert "-14 dBFS" in kinds["LOUD_SOUND"].message
    fault = kinds["DEVICE_FAULT"]
    assert "microphone" in fault.message
    assert "all samples zero" in fault.message
    assert not fault.needs_ack
    same = StatusRow(device_id, 3, T0 + timedelta(seconds=60), T0, True, "1", "m",
                     {"faults": ["microphone_dead"]})  # fmt: skip
    assert (await storage.ingest(IngestBatch(statuses=[same]))).alerts == [], "only new faults"


async def test_delivery_statistics(storage: Storage) -> None:
    owner_id, carer_id, device_id = await _with_caregiver(storage)
    (alert,) = (await storage.ingest(IngestBatch(events=[cry(device_id, 1)]))).alerts
    sent = alert.time + timedelta(seconds=0.4)
    await storage.record_deliveries([
        AlertDelivery(alert.id, owner_id, 0, sent),
        AlertDelivery(alert.id, carer_id, 0, sent + timedelta(seconds=0.2)),
        AlertDelivery(alert.id, owner_id, 0, sent + timedelta(seconds=9)),  # a repeat: ignored
    ])  # fmt: skip
    await storage.acknowledge_alert(owner_id, alert.id, alert.created_at + timedelta(seconds=12))
    stats = await storage.delivery_stats(owner_id, device_id, alert.created_at - timedelta(hours=1))
    assert stats is not None
    assert stats.alerts == 1
    assert stats.unacknowledged == 0
    assert stats.delay_p50_s is not None
    assert abs(stats.delay_p50_s - 0.4) < 0.01, "first write to any caregiver"
    assert stats.ack_p50_s is not None
    assert abs(stats.ack_p50_s - 12.0) < 0.01
    stranger = await storage.create_user(f"{unique('x')}@example.com", "hash", None)
    assert await storage.delivery_stats(stranger.id, device_id, T0) is None


async def test_offline_gap_closes_when_the_replay_fills_it(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    hello = StatusRow(device_id, 0, T0, T0, True, None, None, {})
    await storage.ingest(
        IngestBatch(readings=[reading(device_id, s) for s in range(3)], statuses=[hello])
    )
    went = T0 + timedelta(seconds=25)
    offline = StatusRow(device_id, 2, went, went, False, None, None, {})
    await storage.ingest(IngestBatch(statuses=[offline]))
    (gap,) = await storage.list_gaps(owner_id, device_id, None, None)
    assert (gap.reason, gap.end, gap.closed_at) == ("offline", None, None)

    back = T0 + timedelta(seconds=95)
    online = StatusRow(device_id, 2, back, back, True, None, None, {})
    await storage.ingest(IngestBatch(statuses=[online]))
    (ended,) = await storage.list_gaps(owner_id, device_id, None, None)
    assert ended.end == back, "ended by the online status, still shown: nothing replayed yet"

    # The outbox replays what the device recorded meanwhile (every 10 s, device time).
    await storage.ingest(IngestBatch(readings=[reading(device_id, s) for s in range(3, 10)]))
    assert await storage.list_gaps(owner_id, device_id, None, None) == []
    (closed,) = await storage.list_gaps(owner_id, device_id, None, None, include_closed=True)
    assert closed.closed_at is not None


async def test_offline_gap_closes_when_the_replay_comes_with_the_online_status(
    storage: Storage,
) -> None:
    # The device reconnects and flushes its outbox at once: one batch ends the gap and fills it.
    owner_id, device_id = await new_device(storage)
    hello = StatusRow(device_id, 0, T0, T0, True, None, None, {})
    await storage.ingest(
        IngestBatch(readings=[reading(device_id, s) for s in range(3)], statuses=[hello])
    )
    went = T0 + timedelta(seconds=25)
    await storage.ingest(
        IngestBatch(statuses=[StatusRow(device_id, 2, went, went, False, None, None, {})])
    )
    back = T0 + timedelta(seconds=95)
    online = StatusRow(device_id, 2, back, back, True, None, None, {})
    await storage.ingest(
        IngestBatch(readings=[reading(device_id, s) for s in range(3, 10)], statuses=[online])
    )
    assert await storage.list_gaps(owner_id, device_id, None, None) == []
    (closed,) = await storage.list_gaps(owner_id, device_id, None, None, include_closed=True)
    assert (closed.end, closed.closed_at is not None) == (back, True)


async def test_a_switched_off_device_keeps_its_gap(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    hello = StatusRow(device_id, 0, T0, T0, True, None, None, {})
    await storage.ingest(IngestBatch(readings=[reading(device_id, 0)], statuses=[hello]))
    off = StatusRow(device_id, 0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=5), False,
                    None, None, {})  # fmt: skip
    on = StatusRow(device_id, 0, T0 + timedelta(hours=1), T0 + timedelta(hours=1), True, None,
                   None, {})  # fmt: skip
    await storage.ingest(IngestBatch(statuses=[off]))
    await storage.ingest(IngestBatch(statuses=[on], readings=[reading(device_id, 1)]))
    (gap,) = await storage.list_gaps(owner_id, None, None, None)
    assert gap.reason == "offline"
    assert gap.closed_at is None


async def test_missing_sequence_numbers_are_a_gap_until_they_arrive(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    await storage.ingest(IngestBatch(readings=[reading(device_id, s) for s in (0, 1)]))
    await storage.ingest(IngestBatch(readings=[reading(device_id, 5)]))
    (gap,) = await storage.list_gaps(owner_id, device_id, None, None)
    assert (gap.reason, gap.first_seq, gap.last_seq) == ("missing_messages", 2, 4)
    assert gap.start == reading(device_id, 1).time
    assert gap.end == reading(device_id, 5).time
    await storage.ingest(IngestBatch(readings=[reading(device_id, 2), reading(device_id, 3)]))
    assert len(await storage.list_gaps(owner_id, device_id, None, None)) == 1, "4 still missing"
    await storage.ingest(IngestBatch(events=[cry(device_id, 4)]))
    assert await storage.list_gaps(owner_id, device_id, None, None) == []


async def test_a_hole_filled_within_the_reorder_window_leaves_no_gap(storage: Storage) -> None:
    """Reordering (a share group's other member committing the number a moment later) is not a
    loss: no back-filled gap is kept for it."""
    owner_id, device_id = await new_device(storage)
    await storage.ingest(IngestBatch(readings=[reading(device_id, s) for s in (0, 2)]))
    assert len(await storage.list_gaps(owner_id, device_id, None, None)) == 1
    await storage.ingest(IngestBatch(readings=[reading(device_id, 1)]))
    assert await storage.list_gaps(owner_id, device_id, None, None, include_closed=True) == []


async def test_a_hole_filled_after_the_reorder_window_stays_as_back_filled(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gap_plan, "REORDER_WINDOW_S", 0.0)
    owner_id, device_id = await new_device(storage)
    await storage.ingest(IngestBatch(readings=[reading(device_id, s) for s in (0, 2)]))
    await storage.ingest(IngestBatch(readings=[reading(device_id, 1)]))
    assert await storage.list_gaps(owner_id, device_id, None, None) == []
    (closed,) = await storage.list_gaps(owner_id, device_id, None, None, include_closed=True)
    assert (closed.first_seq, closed.last_seq) == (1, 1)
    assert closed.closed_at is not None


async def test_interleaved_shares_open_and_close_gaps_per_device_and_range(
    storage: Storage,
) -> None:
    """What each collector of a shared-subscription group sees: every other message."""
    owner_id, first = await new_device(storage)
    second = unique("dev")
    await storage.register_device(second, owner_id)
    await storage.ingest(IngestBatch(readings=[reading(first, s) for s in (0, 2, 4)]
                                     + [reading(second, s) for s in (0, 2)]))  # fmt: skip
    gaps = sorted((g.device_id, g.first_seq, g.last_seq, g.start)
                  for g in await storage.list_gaps(owner_id, None, None, None))  # fmt: skip
    assert gaps == sorted([(first, 1, 1, reading(first, 0).time),
                           (first, 3, 3, reading(first, 2).time),
                           (second, 1, 1, reading(second, 0).time)])  # fmt: skip
    await storage.ingest(IngestBatch(readings=[reading(first, s) for s in (1, 3, 5)]
                                     + [reading(second, s) for s in (1, 3)]))  # fmt: skip
    assert await storage.list_gaps(owner_id, None, None, None) == []
    await storage.ingest(IngestBatch(readings=[reading(first, 8)]))
    (gap,) = await storage.list_gaps(owner_id, None, None, None)
    assert (gap.first_seq, gap.last_seq) == (6, 7)
    assert gap.start == reading(first, 5).time, "starts at the stored message before the hole"


async def test_back_online_stops_an_offline_alarm_escalating(storage: Storage) -> None:
    _owner, _carer, device_id = await _with_caregiver(storage)
    await _set(storage, device_id, offline_grace_s=0.0, offline_escalate_after_s=1.0)
    hello = StatusRow(device_id, 0, T0, T0, True, None, None, {})
    await storage.ingest(IngestBatch(statuses=[hello]))
    gone = T0 + timedelta(seconds=10)
    await storage.ingest(IngestBatch(statuses=[StatusRow(device_id, 0, gone, gone, False, None,
                                                         None, {"uptime_s": 1.0})]))  # fmt: skip
    offline = [
        a for a in await storage.check_offline(datetime.now(UTC)) if a.device_id == device_id
    ]
    (alarm,) = offline
    assert alarm.needs_ack
    back = T0 + timedelta(seconds=20)
    await storage.ingest(IngestBatch(statuses=[StatusRow(device_id, 0, back, back, True, None,
                                                         None, {"uptime_s": 2.0})]))  # fmt: skip
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await _escalate(storage, later, alarm.id) == [], "nothing to escalate once it is back"


async def test_a_previous_familys_alarms_neither_escalate_to_nor_show_for_the_next(
    storage: Storage,
) -> None:
    first_owner, device_id = await new_device(storage)
    await _set(storage, device_id, cry_escalate_after_s=1.0)
    (alarm,) = (await storage.ingest(IngestBatch(events=[cry(device_id, 1)]))).alerts
    await storage.unclaim_device(first_owner, device_id)
    second = await storage.create_user(f"{unique('next')}@example.com", "hash", None)
    await storage.register_device(device_id, second.id)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await _escalate(storage, later, alarm.id) == []
    assert await storage.list_alert_transitions(second.id, alarm.id) is None
    assert await storage.acknowledge_alert(second.id, alarm.id, later) is None
    stats = await storage.delivery_stats(second.id, device_id, T0 - timedelta(days=1))
    assert stats is not None
    assert stats.alerts == 0, "the previous family's alerts are not the next one's"


async def test_a_replayed_older_cry_does_not_shorten_the_cooldown(storage: Storage) -> None:
    _owner, device_id = await new_device(storage)
    await _set(storage, device_id, alarm_cooldown_s=120.0)

    def cry_at(seq: int, seconds: float) -> EventRow:
        at = T0 + timedelta(seconds=seconds)
        return EventRow(device_id, seq, at, at, "cry_started", seq, 0.9, -30.0, None, raw=b"{}")

    assert len((await storage.ingest(IngestBatch(events=[cry_at(10, 1000)]))).alerts) == 1
    # A cry from long before, replayed from the outbox: it alarms (it happened) ...
    assert len((await storage.ingest(IngestBatch(events=[cry_at(2, 500)]))).alerts) == 1
    # ... but the cooldown still counts from the newest alarm.
    assert (await storage.ingest(IngestBatch(events=[cry_at(11, 1060)]))).alerts == []
