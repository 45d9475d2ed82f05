"""What the collector and the alert rules make of a cry the device ignored ("not a cry",
issue 31): the event keeps why, the rules raise a CRY_IGNORED notice - never an alarm, and
without starting the cry cooldown - and a device's cry alarm names its episode; the device's
report of its list is kept among the status details."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.alerting import DeviceRules, evaluate_batch
from cloud.collector.decode import to_ingest_item
from cloud.rules import AlertKind, NurserySettings, cry_alert
from cloud.storage.not_a_cry_plan import (
    devices_citing_marks,
    ignore_list_state,
    ignored_from_stored,
    ignored_json,
    status_details_to_store,
)
from cloud.storage.records import EventRow, IgnoredEpisodeRow, StatusRow
from models.contract import MessageKind, topic_for

DEVICE = "nursery-4f2a9c"
NOW = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
MARKED_AT = datetime(2026, 12, 1, 19, 30, tzinfo=UTC)
IGNORED = {"like_episode_id": 3, "marked_at": "2026-12-01T19:30:00Z", "similarity": 0.91}
# What the storage loads for the batch: the device's episode 3 (the one IGNORED cites) is marked.
MARKED = {DEVICE: {3}}


def event(seq: int, kind: str = "cry_started", at: datetime = NOW, **fields: Any) -> bytes:
    document: dict[str, Any] = {
        "schema_version": 1, "device_id": DEVICE, "seq": seq, "ts": at.isoformat(),
        "kind": kind, "episode_id": seq, "confidence": 0.88, "temperature_c": 21.5, **fields,
    }  # fmt: skip
    return json.dumps(document).encode()


def row(raw: bytes, received_at: datetime = NOW) -> EventRow:
    item = to_ingest_item(topic_for(DEVICE, MessageKind.EVENT), raw, received_at)
    assert isinstance(item, EventRow), item
    return item


def test_the_collector_keeps_why_a_cry_start_was_ignored() -> None:
    ignored = row(event(9, ignored=IGNORED))
    assert ignored.ignored == IgnoredEpisodeRow(3, MARKED_AT, 0.91)
    assert row(event(10)).ignored is None, "a message without it (older firmware)"
    # Only a start can be ignored: a reason on an end says nothing and is dropped.
    assert row(event(11, kind="cry_ended", ignored=IGNORED)).ignored is None


def test_the_stored_reason_reads_back_as_it_was() -> None:
    reason = IgnoredEpisodeRow(3, MARKED_AT, 0.91)
    document = ignored_json(reason)
    assert ignored_from_stored(document) == reason
    assert ignored_from_stored(json.dumps(document)) == reason
    assert ignored_json(None) is None
    assert ignored_from_stored(None) is None


def test_an_ignored_cry_is_a_notice_and_a_real_cry_right_after_still_alarms() -> None:
    rules = {DEVICE: DeviceRules(NurserySettings())}
    later = NOW + timedelta(seconds=20)  # well inside the alarm cooldown
    ignored, real = row(event(9, ignored=IGNORED)), row(event(12, at=later), later)
    [notice, alarm] = evaluate_batch(rules, [], [ignored, real], [], marked=MARKED)

    assert notice.kind == AlertKind.CRY_IGNORED
    assert notice.escalate_after_s is None, "a notice: nobody is woken, nothing escalates"
    assert not notice.sick_detected
    assert notice.message == (
        'Not alerted: it sounded like the sound you marked "not a cry" on 2026-12-01'
    )
    assert notice.details == {
        "confidence": 0.88, "temperature": 21.5, "humidity": None, "heard": [],
        "episode_id": 9,
        "ignored": {"like_episode_id": 3, "marked_at": MARKED_AT.isoformat(), "similarity": 0.91},
    }  # fmt: skip
    # It goes out over PostgreSQL NOTIFY and is stored as JSON: plain JSON values only.
    assert json.loads(json.dumps(notice.details)) == notice.details

    assert alarm.kind == AlertKind.CRY_DETECTED
    assert alarm.escalate_after_s is not None
    assert alarm.details["episode_id"] == 12
    assert rules[DEVICE].last_alarm["cry_started"] == later, "only the alarm started it"


def test_an_ignored_cry_during_the_cooldown_is_still_noticed() -> None:
    rules = {DEVICE: DeviceRules(NurserySettings())}
    first, later = row(event(1)), NOW + timedelta(seconds=20)
    ignored = row(event(4, at=later, ignored=IGNORED), later)
    kinds = [alert.kind for alert in evaluate_batch(rules, [], [first, ignored], [], marked=MARKED)]
    assert kinds == [AlertKind.CRY_DETECTED, AlertKind.CRY_IGNORED]
    assert rules[DEVICE].last_alarm["cry_started"] == NOW


def test_an_ignored_cry_whose_mark_is_gone_alarms_with_the_devices_reason() -> None:
    """Not marked now (undone, cleared, another device's mark, or nothing loaded): the cry is
    an alarm - it starts the cooldown as any - and says what the device had decided."""
    cases: list[dict[str, set[int]] | None] = [
        {DEVICE: {4}}, {"another-device": {3}}, {DEVICE: set()}, None,
    ]  # fmt: skip
    for marked in cases:
        rules = {DEVICE: DeviceRules(NurserySettings())}
        [alarm] = evaluate_batch(rules, [], [row(event(9, ignored=IGNORED))], [], marked=marked)
        assert (alarm.kind, alarm.message) == (AlertKind.CRY_DETECTED, "Baby is crying")
        assert alarm.escalate_after_s is not None
        assert alarm.details["episode_id"] == 9
        assert alarm.details["ignored_stale"] == {
            "like_episode_id": 3, "marked_at": MARKED_AT.isoformat(), "similarity": 0.91,
        }  # fmt: skip
        assert rules[DEVICE].last_alarm["cry_started"] == NOW


def test_only_the_devices_with_an_ignored_cry_need_their_marks() -> None:
    events = [
        row(event(9, ignored=IGNORED)), row(event(10)),
        EventRow("other", 1, NOW, NOW, "cry_started", 1, 0.9, None, None),
    ]  # fmt: skip
    assert devices_citing_marks(events) == [DEVICE]
    assert devices_citing_marks(events[1:]) == []


def test_an_offline_status_keeps_the_stored_list_fields() -> None:
    stored: dict[str, Any] = {
        "uptime_s": 90.0, "ignore_list_size": 2, "ignore_list_revision": 5,
        "ignore_list_changed_at": MARKED_AT.isoformat(), "ignore_list_unknown": [17],
    }  # fmt: skip
    will: dict[str, Any] = {
        "uptime_s": 1.0, "ignore_list_size": 0, "ignore_list_revision": 1,
        "ignore_list_changed_at": None, "ignore_list_unknown": [],
    }  # fmt: skip

    def status(online: bool, details: dict[str, Any]) -> StatusRow:
        return StatusRow(DEVICE, 0, NOW, NOW, online, "0.1.0", "cry-1", details)

    kept = status_details_to_store(status(False, will), json.dumps(stored))
    assert kept == {**stored, "uptime_s": 1.0}, "the rest of the will stays as sent"
    assert status_details_to_store(status(True, will), stored) == will, "online: as sent"
    assert status_details_to_store(status(False, will), {"uptime_s": 2.0}) == will
    assert status_details_to_store(status(False, will), None) == will


def test_an_upload_cry_alert_has_no_episode() -> None:
    upload = cry_alert("", NOW, 0.9, NurserySettings(), body_temperature_c=38.5)
    assert upload.sick_detected
    assert "episode_id" not in upload.details


def test_the_device_report_of_its_list_is_kept_in_the_status_details() -> None:
    document = {
        "schema_version": 1, "device_id": DEVICE, "seq": 40, "ts": NOW.isoformat(),
        "state": "online", "ignore_list_size": 2, "ignore_list_changed_at": MARKED_AT.isoformat(),
        "ignore_list_revision": 5, "ignore_list_unknown": [17],
    }  # fmt: skip
    status = to_ingest_item(
        topic_for(DEVICE, MessageKind.STATUS), json.dumps(document).encode(), NOW
    )
    assert isinstance(status, StatusRow)
    # As the collector stores it (devices.status) and reads it back: JSON text on SQLite.
    state = ignore_list_state(DEVICE, 6, [], json.dumps(status.details))
    assert (state.device_size, state.device_changed_at, state.device_revision) == (
        2,
        MARKED_AT,
        5,
    )
    assert state.device_unknown == [17]
    silent = ignore_list_state(DEVICE, 6, [], {"uptime_s": 5.0})  # older firmware, last will
    assert (silent.device_size, silent.device_revision, silent.device_unknown) == (None, None, [])
