"""The per-process rule-state cache: revisions, copies, and starting over when full."""

from __future__ import annotations

from datetime import UTC, datetime

from cloud.alerting import DeviceRules
from cloud.rules import MetricState, NurserySettings
from cloud.storage.rule_cache import UNKNOWN_REVISION, CommittedRules, RuleStateCache

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rules(temperature_since: datetime | None = None) -> DeviceRules:
    rules = DeviceRules(NurserySettings())
    rules.climate["temperature"] = MetricState("high", temperature_since, False, T0)
    rules.faults = ["sensor"]
    return rules


def test_unknown_device_has_no_revision() -> None:
    assert RuleStateCache().revision("dev-1") == UNKNOWN_REVISION


def test_recorded_state_comes_back_with_current_settings() -> None:
    cache = RuleStateCache()
    cache.record(CommittedRules({"dev-1": 7}, {"dev-1": _rules(T0)}))
    assert cache.revision("dev-1") == 7
    settings = NurserySettings(climate_grace_s=10.0)
    loaded = cache.rules("dev-1", settings)
    assert loaded.settings is settings
    assert loaded.climate["temperature"].since == T0
    assert loaded.faults == ["sensor"]


def test_changing_loaded_or_recorded_rules_does_not_change_the_cache() -> None:
    cache = RuleStateCache()
    recorded = _rules(T0)
    cache.record(CommittedRules({"dev-1": 1}, {"dev-1": recorded}))
    recorded.climate["humidity"] = MetricState("low", T0, True, T0)
    loaded = cache.rules("dev-1", NurserySettings())
    loaded.climate.clear()
    loaded.faults.append("clock")
    loaded.last_alarm["cry_started"] = T0
    again = cache.rules("dev-1", NurserySettings())
    assert list(again.climate) == ["temperature"]
    assert again.faults == ["sensor"]
    assert again.last_alarm == {}


def test_a_full_cache_starts_over() -> None:
    cache = RuleStateCache(max_devices=2)
    cache.record(CommittedRules({"a": 1, "b": 2}, {"a": _rules(), "b": _rules()}))
    cache.record(CommittedRules({"c": 3}, {"c": _rules()}))
    assert len(cache) == 1
    assert cache.revision("a") == UNKNOWN_REVISION
    assert cache.revision("c") == 3
