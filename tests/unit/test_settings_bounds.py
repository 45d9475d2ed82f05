"""Nursery settings are bounded when entered and repaired when read, and one device's rules
failing never takes the other devices' data or alerts with it (issue 27, finding 2)."""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from cloud.alerting import (
    RULE_FAILURES,
    DeviceRules,
    evaluate_batch,
    evaluate_presence,
    settings_from_json,
)
from cloud.collector.metrics import CollectorMetrics
from cloud.rules import (
    SETTING_RANGES,
    AlertKind,
    NurserySettings,
    PresenceState,
    SettingsError,
)
from cloud.storage.records import EventRow, StatusRow, TelemetryRow

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
# What an adversarial probe stored through the old API (and what 1e309 parses to).
POISON = [1e300, math.inf, -math.inf, math.nan, 10**400]


def test_every_setting_has_a_range_and_the_defaults_are_inside_it() -> None:
    defaults = NurserySettings()
    assert {f.name for f in fields(NurserySettings)} == set(SETTING_RANGES)
    for key, bounds in SETTING_RANGES.items():
        assert bounds.low <= getattr(defaults, key) <= bounds.high, key


@pytest.mark.parametrize("key", sorted(SETTING_RANGES))
@pytest.mark.parametrize("value", POISON, ids=repr)
def test_non_finite_and_huge_values_are_refused_naming_the_key(key: str, value: float) -> None:
    with pytest.raises(SettingsError, match=f"^{key}: "):
        NurserySettings.from_mapping({key: value})


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("offline_grace_s", 86_401, "between 0 and 86400 seconds"),
        ("climate_grace_s", 3_601, "between 0 and 3600 seconds"),
        ("alarm_cooldown_s", 3_600.5, "between 0 and 3600 seconds"),
        ("temperature_max_c", 41, "between 0 and 40 °C"),
        ("temperature_min_c", -1, "between 0 and 40 °C"),
        ("humidity_max_pct", 101, "between 0 and 100 %"),
        ("sick_body_temperature_c", 30, "between 36 and 42 °C"),
    ],
)
def test_out_of_range_values_are_refused_with_the_range(
    key: str, value: float, reason: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{key}: must be {reason}$"):
        NurserySettings.from_mapping({key: value})


def test_the_bounds_themselves_are_accepted() -> None:
    for key, bounds in SETTING_RANGES.items():
        if key.endswith("_min_c") or key.endswith("_min_pct"):
            continue  # the minimum must stay below the maximum
        assert getattr(NurserySettings.from_mapping({key: bounds.high}), key) == bounds.high


def test_stored_values_out_of_range_are_clamped_and_unusable_ones_default() -> None:
    document = (
        '{"offline_grace_s": 1e300, "climate_grace_s": -5, "alarm_cooldown_s": NaN,'
        ' "temperature_max_c": 1e309, "humidity_max_pct": "high", "mystery": 1}'
    )
    settings = settings_from_json("dev-poisoned", document)
    assert settings.offline_grace_s == 86_400.0
    assert settings.climate_grace_s == 0.0
    assert settings.alarm_cooldown_s == NurserySettings().alarm_cooldown_s
    assert settings.temperature_max_c == NurserySettings().temperature_max_c
    assert settings.humidity_max_pct == NurserySettings().humidity_max_pct


@pytest.mark.parametrize("document", ["not json", "[1, 2]", '{"temperature_min_c": 30}'])
def test_unreadable_or_inconsistent_stored_settings_fall_back_to_defaults(document: str) -> None:
    settings = settings_from_json("dev-odd", document)
    assert (settings.temperature_min_c, settings.temperature_max_c) == (16.0, 22.0)


def _poisoned() -> NurserySettings:
    # As an older version stored them: the dataclass itself does not validate.
    return NurserySettings(climate_grace_s=1e300, offline_grace_s=1e300, alarm_cooldown_s=1e300)


def test_one_devices_failing_rules_do_not_stop_the_others_alerts() -> None:
    rules = {
        "bad": DeviceRules(_poisoned()),
        "good": DeviceRules(NurserySettings(climate_grace_s=0)),
    }
    readings = [
        TelemetryRow(device, seq, T0 + timedelta(seconds=seq), T0, 30.0, 50.0, None, None)
        for seq in range(2)
        for device in ("bad", "good")
    ]
    events = [
        EventRow(device, 10, T0, T0, "cry_started", 1, 0.9, None, None)
        for device in ("bad", "good")
    ]
    metrics = CollectorMetrics()
    failures_before = RULE_FAILURES.count
    alerts = evaluate_batch(rules, readings, events, [])
    raised = {(alert.device_id, alert.kind) for alert in alerts}
    assert ("good", AlertKind.CLIMATE_OUT_OF_RANGE) in raised
    assert ("good", AlertKind.CRY_DETECTED) in raised
    assert ("bad", AlertKind.CLIMATE_OUT_OF_RANGE) not in raised
    assert RULE_FAILURES.count - failures_before == 2  # temperature and humidity
    exported = metrics.registry.get_sample_value("nursery_collector_rule_failures_total")
    assert exported == RULE_FAILURES.count


def test_one_devices_failing_offline_rule_does_not_stop_the_others() -> None:
    offline = PresenceState(offline_since=T0)
    rules = {
        "bad": DeviceRules(_poisoned(), presence=offline),
        "good": DeviceRules(NurserySettings(offline_grace_s=60), presence=offline),
    }
    alerts = evaluate_presence(rules, T0 + timedelta(minutes=5))
    assert [(alert.device_id, alert.kind) for alert in alerts] == [
        ("good", AlertKind.DEVICE_OFFLINE)
    ]


def test_an_unreadable_rule_state_starts_afresh() -> None:
    rules = DeviceRules.from_document(NurserySettings(), {"presence": {"offline_since": 42}})
    assert rules.presence == PresenceState()
    changes = [StatusRow("dev", 1, T0, T0, False, None, None, {})]
    assert evaluate_batch({"dev": rules}, [], [], changes) == []
