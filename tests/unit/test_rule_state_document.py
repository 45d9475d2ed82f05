"""What of a device's rule state is stored where, and when the stored document must be written.

Each metric's newest considered reading time lives in the device row, not in the document, so
a batch of ordinary readings changes no document (cloud.alerting.DeviceRules.state_document).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.alerting import DeviceRules, changed_states, evaluate_batch, state_keys
from cloud.rules import MetricState, NurserySettings
from cloud.storage.records import EventRow, TelemetryRow

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SETTINGS = NurserySettings(climate_grace_s=25)


def reading(seconds: float, temperature: float | None = 20.0, device: str = "dev") -> TelemetryRow:
    time = T0 + timedelta(seconds=seconds)
    return TelemetryRow(device, int(seconds), time, time, temperature, 45.0, None, None)


def after(rules: dict[str, DeviceRules], readings: list[TelemetryRow]) -> dict[str, DeviceRules]:
    """The devices whose document a batch of ``readings`` changes."""
    loaded = state_keys(rules)
    evaluate_batch(rules, readings, [], [])
    return changed_states(rules, loaded)


def test_readings_in_range_change_no_document_but_move_the_considered_time() -> None:
    rules = {"dev": DeviceRules(SETTINGS)}
    assert set(after(rules, [reading(0)])) == {"dev"}  # the first reading creates the metrics
    assert after(rules, [reading(10), reading(20)]) == {}
    assert rules["dev"].considered_until() == {
        "temperature": T0 + timedelta(seconds=20),
        "humidity": T0 + timedelta(seconds=20),
    }


def test_a_change_of_condition_alarm_or_cooldown_changes_the_document() -> None:
    rules = {"dev": DeviceRules(SETTINGS)}
    after(rules, [reading(0)])
    assert set(after(rules, [reading(10, temperature=25.0)])) == {"dev"}  # too hot since 10
    assert after(rules, [reading(20, temperature=25.0)]) == {}  # still in grace: same state
    assert set(after(rules, [reading(40, temperature=25.0)])) == {"dev"}  # alerted
    cry = EventRow("dev", 50, T0 + timedelta(seconds=50), T0, "cry_started", 1, 0.9, -30.0, None)
    loaded = state_keys(rules)
    evaluate_batch(rules, [], [cry], [])
    assert set(changed_states(rules, loaded)) == {"dev"}  # the cooldown's last alarm moved


def test_the_document_holds_no_considered_time_and_loading_restores_it() -> None:
    rules = {"dev": DeviceRules(SETTINGS)}
    after(rules, [reading(0, temperature=25.0), reading(10, temperature=25.0)])
    document = rules["dev"].state_document()
    assert "last_time" not in document["climate"]["temperature"]
    loaded = DeviceRules.from_document(SETTINGS, document)
    loaded.consider_until(rules["dev"].considered_until())
    assert loaded == rules["dev"]


def test_the_later_considered_time_wins_when_loading() -> None:
    earlier, later = T0 + timedelta(seconds=10), T0 + timedelta(seconds=30)
    # A document written before the times moved to the device row still carries its own.
    rules = DeviceRules(SETTINGS, {"temperature": MetricState(last_time=later)})
    rules.consider_until({"temperature": earlier, "humidity": earlier})
    assert rules.considered_until() == {"temperature": later, "humidity": earlier}
    rules.consider_until({"temperature": None, "humidity": later})
    assert rules.considered_until() == {"temperature": later, "humidity": later}


def test_a_late_reading_older_than_the_considered_time_is_ignored_after_reloading() -> None:
    rules = {"dev": DeviceRules(SETTINGS)}
    after(rules, [reading(0), reading(30)])
    # What storage keeps: the document (unchanged by in-range readings) and the device row.
    reloaded = DeviceRules.from_document(SETTINGS, rules["dev"].state_document())
    reloaded.consider_until(rules["dev"].considered_until())
    fresh = {"dev": reloaded}
    # Hot at 5 s arrives late (an outbox backlog); hot again from 40 s: the grace starts at 40.
    assert evaluate_batch(fresh, [reading(5, temperature=25.0)], [], []) == []
    assert evaluate_batch(fresh, [reading(40, temperature=25.0)], [], []) == []
    assert evaluate_batch(fresh, [reading(50, temperature=25.0)], [], []) == []
    assert fresh["dev"].climate["temperature"].since == T0 + timedelta(seconds=40)
