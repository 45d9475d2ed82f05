"""The alert rules, as pure functions with a hand-driven clock."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from cloud.alerting import DeviceRules, evaluate_batch
from cloud.rules import (
    AlertKind,
    MetricState,
    NurserySettings,
    PresenceState,
    SettingsError,
    cry_alert,
    evaluate_climate,
    evaluate_climate_series,
    evaluate_offline,
    evaluate_status,
    is_sick,
)
from cloud.storage.records import TelemetryRow

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DEFAULTS = NurserySettings()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run_climate(
    values: Sequence[tuple[float, float | None]], settings: NurserySettings = DEFAULTS
) -> list[str]:
    state = MetricState()
    kinds = []
    for seconds, value in values:
        state, alerts = evaluate_climate("dev", "temperature", value, at(seconds), state, settings)
        kinds += [f"{alert.kind}@{seconds:g}" for alert in alerts]
    return kinds


def test_sick_needs_a_cry_and_a_body_temperature_over_38() -> None:
    assert is_sick(True, 38.5, DEFAULTS)
    assert not is_sick(True, 38.0, DEFAULTS)
    assert not is_sick(False, 39.0, DEFAULTS)
    assert not is_sick(True, None, DEFAULTS)
    assert cry_alert("dev", T0, 0.9, DEFAULTS, body_temperature_c=39.0).sick_detected
    plain = cry_alert("dev", T0, 0.9, DEFAULTS)
    assert (plain.kind, plain.sick_detected) == (AlertKind.CRY_DETECTED, False)


def test_brief_excursions_do_not_alert() -> None:
    assert run_climate([(0, 25.0), (100, 25.0), (200, 20.0), (400, 25.0)]) == []


def test_one_alert_after_grace_then_back_to_normal() -> None:
    readings = [(0, 25.0), (200, 25.5), (300, 26.0), (400, 26.0), (500, 21.0), (600, 21.0)]
    assert run_climate(readings) == ["CLIMATE_OUT_OF_RANGE@300", "CLIMATE_NORMAL@500"]


def test_switching_from_too_cold_to_too_hot_restarts_the_grace_period() -> None:
    readings = [(0, 10.0), (200, 30.0), (400, 30.0), (500, 30.0)]
    assert run_climate(readings) == ["CLIMATE_OUT_OF_RANGE@500"]


def test_missing_values_and_replayed_old_readings_are_ignored() -> None:
    readings = [(0, 25.0), (100, None), (150, 25.0), (50, 20.0), (300, 25.0)]
    assert run_climate(readings) == ["CLIMATE_OUT_OF_RANGE@300"]


@pytest.mark.parametrize("seed", range(50))
def test_a_series_of_readings_ends_where_one_reading_at_a_time_does(seed: int) -> None:
    # Random walks across the safe range, with gaps, missing values, replays and readings
    # exactly on the bounds; the batch path evaluates them as one series per device.
    rng = random.Random(seed)
    settings = NurserySettings.from_mapping({"climate_grace_s": rng.choice([0, 120, 300])})
    samples: list[tuple[float | None, datetime]] = []
    seconds, value = 0.0, 20.0
    for _ in range(rng.randint(1, 40)):
        seconds += rng.choice([-90, 0, 30, 60, 200])  # negative and 0: replays of older ones
        value = rng.choice([value + rng.uniform(-3, 3), 16.0, 22.0, 10.0, 30.0])
        samples.append((None if rng.random() < 0.1 else value, at(seconds)))
    start = rng.choice([MetricState(), MetricState("high", at(-400), True, at(-10))])

    state, one_by_one = start, []
    for sample_value, time in samples:
        state, alerts = evaluate_climate("dev", "temperature", sample_value, time, state, settings)
        one_by_one += alerts
    series_state, series_alerts = evaluate_climate_series(
        "dev", "temperature", samples, start, settings
    )
    assert series_state == state
    assert series_alerts == one_by_one


def test_batch_alerts_come_in_device_time_order_across_devices() -> None:
    settings = NurserySettings.from_mapping({"climate_grace_s": 0})
    rules = {"a": DeviceRules(settings), "b": DeviceRules(settings)}
    readings = [
        TelemetryRow("a", 2, at(20), at(20), 30.0, 45.0, None, None),
        TelemetryRow("b", 1, at(10), at(10), 30.0, 45.0, None, None),
        TelemetryRow("a", 1, at(5), at(5), 21.0, 45.0, None, None),
        TelemetryRow("b", 2, at(30), at(30), 21.0, 45.0, None, None),
    ]
    alerts = evaluate_batch(rules, readings, [], [])
    assert [(a.device_id, a.kind, a.time) for a in alerts] == [
        ("b", AlertKind.CLIMATE_OUT_OF_RANGE, at(10)),
        ("a", AlertKind.CLIMATE_OUT_OF_RANGE, at(20)),
        ("b", AlertKind.CLIMATE_NORMAL, at(30)),
    ]
    assert rules["a"].climate["temperature"] == MetricState("high", at(20), True, at(20))


def test_custom_range_from_settings() -> None:
    settings = NurserySettings.from_mapping({"temperature_max_c": 26, "climate_grace_s": 0})
    assert run_climate([(0, 25.0)], settings) == []
    assert run_climate([(0, 27.0)], settings) == ["CLIMATE_OUT_OF_RANGE@0"]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"temperature_maximum": 3}, "temperature_maximum"),
        ({"humidity_min_pct": "low"}, "humidity_min_pct"),
        ({"humidity_min_pct": True}, "humidity_min_pct"),
        ({"temperature_min_c": 25, "temperature_max_c": 20}, "temperature_min_c"),
        ({"offline_grace_s": -1}, "offline_grace_s"),
    ],
)
def test_invalid_settings_name_the_key(values: dict[str, object], key: str) -> None:
    with pytest.raises(SettingsError, match=key):
        NurserySettings.from_mapping(values)


def test_offline_alert_once_after_grace_and_online_recovery() -> None:
    state, alerts = evaluate_status("dev", False, at(0), PresenceState())
    assert alerts == []
    state, alerts = evaluate_offline("dev", at(60), state, DEFAULTS)
    assert alerts == []
    state, alerts = evaluate_offline("dev", at(121), state, DEFAULTS)
    assert [alert.kind for alert in alerts] == [AlertKind.DEVICE_OFFLINE]
    state, alerts = evaluate_offline("dev", at(500), state, DEFAULTS)
    assert alerts == []
    state, alerts = evaluate_status("dev", True, at(600), state)
    assert [alert.kind for alert in alerts] == [AlertKind.DEVICE_ONLINE]
    assert state == PresenceState()


def test_short_offline_blip_is_silent() -> None:
    state, _ = evaluate_status("dev", False, at(0), PresenceState())
    state, alerts = evaluate_status("dev", True, at(30), state)
    assert alerts == []
    assert evaluate_offline("dev", at(500), state, DEFAULTS) == (PresenceState(), [])
