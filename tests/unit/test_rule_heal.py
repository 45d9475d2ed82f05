"""Rule-state times in the future are set back before the rules run (cloud.storage.rule_heal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.alerting import DeviceRules, evaluate_batch
from cloud.rules import MetricState, NurserySettings, PresenceState
from cloud.storage.records import TelemetryRow
from cloud.storage.rule_heal import heal_future_times

NOW = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
FAR = datetime(9999, 12, 31, tzinfo=UTC)


def reading(seq: int, time: datetime, temperature: float = 30.0) -> TelemetryRow:
    return TelemetryRow("dev-1", seq, time, NOW, temperature, 45.0, None, None)


def poisoned() -> DeviceRules:
    return DeviceRules(
        NurserySettings(),
        climate={"temperature": MetricState("high", FAR, False, FAR)},
        presence=PresenceState(offline_since=FAR),
        last_alarm={"cry_started": FAR, "loud_sound": NOW - timedelta(minutes=1)},
    )


def test_future_times_are_set_back_and_the_rules_work_again() -> None:
    rules = {"dev-1": poisoned()}
    spell = [reading(i, NOW - timedelta(seconds=600 - 30 * i)) for i in range(21)]
    assert heal_future_times(rules, spell, NOW) == ["dev-1"]
    device = rules["dev-1"]
    assert device.climate["temperature"].since is None
    assert device.climate["temperature"].last_time is None
    assert device.presence.offline_since == NOW
    assert device.last_alarm == {"loud_sound": NOW - timedelta(minutes=1)}
    alerts = evaluate_batch(rules, spell, [], [])
    assert [alert.kind.value for alert in alerts] == ["CLIMATE_OUT_OF_RANGE"]


def test_unpoisoned_and_slightly_fast_states_are_left_alone() -> None:
    fast = NOW + timedelta(minutes=20)  # a window widened by the operator allowed it
    state = MetricState("high", fast - timedelta(minutes=1), False, fast)
    rules = {"dev-1": DeviceRules(NurserySettings(), climate={"temperature": state})}
    assert heal_future_times(rules, [reading(1, fast + timedelta(seconds=10))], NOW) == []
    assert rules["dev-1"].climate["temperature"] == state


def test_without_rows_nothing_is_healed() -> None:
    rules = {"dev-1": poisoned()}
    assert heal_future_times(rules, [], NOW) == []


def test_a_batch_received_earlier_than_the_clock_heals_nothing_recent() -> None:
    """A state stored by a batch received later than this one (a replay handled out of order)
    is not the future while the server clock has passed it."""
    recent_alarm = NOW - timedelta(minutes=1)
    rules = {"dev-1": DeviceRules(NurserySettings(), last_alarm={"cry_started": recent_alarm})}
    older = TelemetryRow("dev-1", 1, NOW - timedelta(hours=1), NOW - timedelta(hours=1), 21.0,
                         45.0, None, None)  # fmt: skip
    assert heal_future_times(rules, [older], NOW) == []
    assert rules["dev-1"].last_alarm == {"cry_started": recent_alarm}


def test_a_clock_fast_within_the_widest_window_keeps_its_cooldown() -> None:
    """An operator may widen the window (up to a day): a device 30 min fast is accepted, and a
    batch holding only an older message from it must not forget its recent alarm."""
    fast_alarm = NOW + timedelta(minutes=30)
    rules = {"dev-1": DeviceRules(NurserySettings(), last_alarm={"cry_started": fast_alarm})}
    assert heal_future_times(rules, [reading(1, NOW - timedelta(minutes=5))], NOW) == []
    assert rules["dev-1"].last_alarm == {"cry_started": fast_alarm}


def test_a_batch_holding_a_row_from_9999_does_not_overflow() -> None:
    """Such a row reaches storage only without the collector's window (a direct ingest): the
    limit then saturates instead of raising."""
    rules = {"dev-1": poisoned()}
    assert heal_future_times(rules, [reading(1, FAR)], NOW) == []
