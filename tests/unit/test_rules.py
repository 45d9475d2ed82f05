"""The alert rules, as pure functions with a hand-driven clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from cloud.rules import (
    AlertKind,
    MetricState,
    NurserySettings,
    PresenceState,
    SettingsError,
    cry_alert,
    evaluate_climate,
    evaluate_offline,
    evaluate_status,
    is_sick,
)

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
