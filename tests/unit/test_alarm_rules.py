"""The pure parts of trustworthy alarms: cooldown, fault advice, loud sound, gap planning."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cloud.rules import (
    AlertKind,
    NurserySettings,
    SettingsError,
    cry_alert,
    evaluate_faults,
    in_cooldown,
    loud_sound_alert,
)
from cloud.storage.delivery_stats import percentile
from cloud.storage.gap_plan import covered, max_spacing, missing_ranges
from models.contract import ContractError, decode_message

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_alarms_carry_their_escalation_delay_and_receive_time() -> None:
    settings = NurserySettings(cry_escalate_after_s=45.0, loud_sound_escalate_after_s=30.0)
    cry = cry_alert("d", T0, 0.9, settings, received_at=T0 + timedelta(seconds=0.2))
    assert cry.escalate_after_s == 45.0
    assert cry.received_at == T0 + timedelta(seconds=0.2)
    loud = loud_sound_alert("d", T0, -14.2, 6.0, settings)
    assert loud.kind is AlertKind.LOUD_SOUND
    assert loud.escalate_after_s == 30.0
    assert loud.message == "Loud sound in the nursery (-14 dBFS for 6 s): please check"
    assert loud_sound_alert("d", T0, None, None, settings).message == (
        "Loud sound in the nursery: please check"
    )


def test_cooldown_is_measured_in_device_time() -> None:
    settings = NurserySettings(alarm_cooldown_s=120.0)
    assert not in_cooldown(None, T0, settings)
    assert in_cooldown(T0, T0 + timedelta(seconds=119), settings)
    assert not in_cooldown(T0, T0 + timedelta(seconds=120), settings)
    assert not in_cooldown(T0, T0 - timedelta(seconds=5), settings), "an older event (replay)"


def test_escalation_delays_are_validated_by_name() -> None:
    with pytest.raises(SettingsError, match="cry_escalate_after_s"):
        NurserySettings.from_mapping({"cry_escalate_after_s": 0.5})
    with pytest.raises(SettingsError, match="alarm_cooldown_s"):
        NurserySettings.from_mapping({"alarm_cooldown_s": -1})


def test_only_new_faults_alert_and_say_what_to_check() -> None:
    alerts = evaluate_faults(
        "d", ["microphone_dead", "clock"], {"microphone_dead": "all zero for 30 s"}, T0, ["clock"]
    )
    (alert,) = alerts
    assert alert.kind is AlertKind.DEVICE_FAULT
    assert alert.escalate_after_s is None, "a fault is a notice, not an alarm"
    assert "input volume" in alert.message
    assert alert.message.endswith("(The monitor saw: all zero for 30 s.)")
    (unknown,) = evaluate_faults("d", ["fan_on_fire"], {}, T0, [])
    assert "fan_on_fire" in unknown.message
    (long,) = evaluate_faults("d", ["microphone_dead"], {"microphone_dead": "x" * 5000}, T0, [])
    assert len(long.message) < 600, "fault text is bounded: alerts travel in a NOTIFY"


def test_the_contract_refuses_an_unbounded_fault_detail() -> None:
    status = {"schema_version": 1, "device_id": "dev-1", "seq": 1, "ts": "2026-11-23T02:00:00Z",
              "state": "online", "faults": ["microphone_dead"],
              "fault_details": {"microphone_dead": "x" * 5000}}  # fmt: skip
    with pytest.raises(ContractError):
        decode_message("nursery/v1/dev-1/status", json.dumps(status).encode())


def test_missing_sequence_ranges() -> None:
    assert missing_ranges(4, [5, 6]) == []
    assert missing_ranges(4, [8]) == [(5, 7)]
    assert missing_ranges(4, [6, 9, 10]) == [(5, 5), (7, 8)]
    assert missing_ranges(4, [2, 3]) == [], "late arrivals are not new holes"
    assert missing_ranges(None, [10, 11, 13]) == [(12, 12)], "a new device starts where it starts"


def test_coverage_of_a_gap_by_replayed_readings() -> None:
    spacing = max_spacing(10.0)
    assert spacing == timedelta(seconds=30)
    every_10s = [T0 + timedelta(seconds=s) for s in range(0, 121, 10)]
    assert covered(every_10s, T0, T0 + timedelta(seconds=120), spacing)
    holed = [t for t in every_10s if not 40 <= (t - T0).total_seconds() <= 80]
    assert not covered(holed, T0, T0 + timedelta(seconds=120), spacing)
    assert covered([], T0, T0 + timedelta(seconds=20), spacing), "shorter than one spacing"
    assert not covered([], T0, T0 + timedelta(minutes=5), spacing)
    assert max_spacing(None) == timedelta(seconds=30)


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(v) for v in range(1, 101)], 95) == pytest.approx(95.05)
