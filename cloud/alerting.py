"""Applying the alert rules to what one ingest batch newly stored (pure: no I/O).

Storage backends call ``evaluate_batch`` inside the transaction that stores the batch, with the
rule state they loaded for the batch's devices, and store the states and alerts it returns.
Only newly stored rows are passed in, so a redelivered message never alerts twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from cloud.rules import (
    Metric,
    MetricState,
    NewAlert,
    NurserySettings,
    PresenceState,
    SettingsError,
    cry_alert,
    evaluate_climate_series,
    evaluate_faults,
    evaluate_offline,
    evaluate_status,
    in_cooldown,
    loud_sound_alert,
    test_alert,
)
from cloud.storage.records import EventRow, StatusRow, TelemetryRow

logger = logging.getLogger(__name__)

METRICS: tuple[Metric, ...] = ("temperature", "humidity")
CRY_STARTED = "cry_started"
TEST_EVENT = "test"
LOUD_SOUND = "loud_sound"


@dataclass(slots=True)
class DeviceRules:
    """One device's settings and rule state, as loaded from and saved to storage."""

    settings: NurserySettings
    climate: dict[Metric, MetricState] = field(default_factory=dict)
    presence: PresenceState = field(default_factory=PresenceState)
    # Device time of the last alarm raised per event kind (the cooldown).
    last_alarm: dict[str, datetime] = field(default_factory=dict)
    # The faults the device reported last, so only new ones alert.
    faults: list[str] = field(default_factory=list)

    def state_document(self) -> dict[str, Any]:
        """What is stored as the device's rule state. Each metric's ``last_time`` is not in it:
        it moves with every reading, so storing it here would rewrite every device's document
        in every batch. The device row keeps it (``<metric>_considered_until``), and this
        document is stored only when something in it changed (``state_key``)."""
        return {
            "climate": {
                metric: _fields(state, skip=("last_time",))
                for metric, state in self.climate.items()
            },
            "presence": _fields(self.presence),
            "last_alarm": {kind: time.isoformat() for kind, time in self.last_alarm.items()},
            "faults": self.faults,
        }

    def state_key(self) -> tuple[object, ...]:
        """Equal for two states with the same document: compared before and after a batch's
        rules, so the document is written only when it changed."""
        return (
            tuple(
                (metric, state.condition, state.since, state.alerted)
                for metric, state in self.climate.items()
            ),
            self.presence,
            tuple(self.last_alarm.items()),
            tuple(self.faults),
        )

    def considered_until(self) -> dict[Metric, datetime | None]:
        """Per metric, the device time of the newest reading the climate rules considered."""
        return {metric: self.climate[metric].last_time for metric in self.climate}

    def consider_until(self, times: Mapping[Metric, datetime | None]) -> None:
        """Merge in each metric's newest considered reading time as stored in the device row.
        The later time wins: a state document written before the times moved to the device
        row still carries its own, and a cached state may be older than the row."""
        for metric, time in times.items():
            if time is None:
                continue
            state = self.climate.get(metric, MetricState())
            if state.last_time is None or state.last_time < time:
                self.climate[metric] = replace(state, last_time=time)

    @classmethod
    def from_document(cls, settings: NurserySettings, document: dict[str, Any]) -> DeviceRules:
        climate = {
            cast(Metric, metric): MetricState(**_decode(values))
            for metric, values in document.get("climate", {}).items()
        }
        presence = PresenceState(**_decode(document.get("presence", {})))
        last_alarm = {
            kind: datetime.fromisoformat(time)
            for kind, time in document.get("last_alarm", {}).items()
        }
        return cls(settings, climate, presence, last_alarm, list(document.get("faults", [])))


def state_keys(rules: Mapping[str, DeviceRules]) -> dict[str, tuple[object, ...]]:
    return {device_id: device_rules.state_key() for device_id, device_rules in rules.items()}


def changed_states(
    rules: Mapping[str, DeviceRules], keys_before: Mapping[str, tuple[object, ...]]
) -> dict[str, DeviceRules]:
    """The devices whose state document differs from ``keys_before`` (``state_keys`` taken
    when the states were loaded): the only ones whose document needs writing."""
    return {
        device_id: device_rules
        for device_id, device_rules in rules.items()
        if device_rules.state_key() != keys_before.get(device_id)
    }


def _fields(state: MetricState | PresenceState, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies and showed up in the ingest profile (runs for
    # every device of every batch).
    values = {name: getattr(state, name) for name in state.__slots__ if name not in skip}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _decode(values: dict[str, Any]) -> dict[str, Any]:
    time_keys = {"since", "last_time", "offline_since"}
    return {
        k: datetime.fromisoformat(v) if k in time_keys and isinstance(v, str) else v
        for k, v in values.items()
    }


def settings_from_json(device_id: str, document: str | None) -> NurserySettings:
    """A device's nursery settings from their stored JSON text. Settings are validated when
    written; a bad stored document must not stop ingest, so it is logged and the defaults
    apply. A fleet shares a few distinct documents (most are the defaults): each is parsed and
    validated once."""
    settings = _settings_of_text(document or "{}")
    if isinstance(settings, SettingsError):
        logger.error("device %s has invalid settings (%s); using defaults", device_id, settings)
        return NurserySettings()
    return settings


@lru_cache(maxsize=1024)
def _settings_of_text(document: str) -> NurserySettings | SettingsError:
    try:
        return NurserySettings.from_mapping(json.loads(document))
    except SettingsError as exc:
        return exc


def evaluate_batch(
    rules: dict[str, DeviceRules],
    readings: list[TelemetryRow],
    events: list[EventRow],
    status_changes: list[StatusRow],
    statuses: Sequence[StatusRow] = (),
) -> list[NewAlert]:
    """Update ``rules`` in place from the batch's new rows (in device time order) and return the
    alerts they raise. ``status_changes`` changed a device's online state; ``statuses`` are all
    the statuses applied (their faults are checked)."""
    alerts: list[NewAlert] = []
    for device_id, device_readings in _per_device(readings).items():
        device = rules[device_id]
        for metric in METRICS:
            samples = [
                (r.temperature if metric == "temperature" else r.humidity, r.time)
                for r in device_readings
            ]
            device.climate[metric], raised = evaluate_climate_series(
                device_id, metric, samples, device.climate.get(metric, MetricState()),
                device.settings,
            )  # fmt: skip
            alerts.extend(raised)
    # In device time order across devices, as if the readings had been taken one by one.
    alerts.sort(key=lambda alert: alert.time)
    for event in sorted(events, key=lambda row: (row.time, row.seq)):
        device = rules[event.device_id]
        if event.kind in (CRY_STARTED, LOUD_SOUND):
            if in_cooldown(device.last_alarm.get(event.kind), event.time, device.settings):
                continue
            # Never moved back: a replayed older event must not shorten the next cooldown.
            last = device.last_alarm.get(event.kind)
            device.last_alarm[event.kind] = event.time if last is None else max(last, event.time)
            if event.kind == CRY_STARTED:
                alerts.append(
                    cry_alert(
                        event.device_id, event.time, event.confidence, device.settings,
                        received_at=event.received_at,
                        room=(event.temperature, event.humidity),
                    )
                )  # fmt: skip
            else:
                alerts.append(
                    loud_sound_alert(
                        event.device_id, event.time, event.sound_dbfs, event.duration_s,
                        device.settings, received_at=event.received_at,
                    )
                )  # fmt: skip
        elif event.kind == TEST_EVENT:
            alerts.append(test_alert(event.device_id, event.time))
    for status in sorted(statuses, key=lambda row: row.time):
        device = rules[status.device_id]
        faults = [str(f) for f in cast(list[object], status.details.get("faults") or [])]
        details = cast(dict[str, str], status.details.get("fault_details") or {})
        alerts.extend(
            evaluate_faults(
                status.device_id, faults, details, status.time, device.faults, status.received_at
            )
        )
        device.faults = faults
    for status in sorted(status_changes, key=lambda row: row.received_at):
        device = rules[status.device_id]
        device.presence, raised = evaluate_status(
            # Server time: a last will carries the device time of its connection, not of the loss.
            status.device_id,
            status.online,
            status.received_at,
            device.presence,
        )
        alerts.extend(raised)
    return alerts


def _per_device(readings: list[TelemetryRow]) -> dict[str, list[TelemetryRow]]:
    """Each device's readings in device time order (seq breaks ties)."""
    per_device: dict[str, list[TelemetryRow]] = {}
    for reading in sorted(readings, key=lambda row: (row.time, row.seq)):
        per_device.setdefault(reading.device_id, []).append(reading)
    return per_device


def evaluate_presence(rules: dict[str, DeviceRules], now: datetime) -> list[NewAlert]:
    """The periodic offline check over devices currently offline."""
    alerts: list[NewAlert] = []
    for device_id, device in rules.items():
        device.presence, raised = evaluate_offline(device_id, now, device.presence, device.settings)
        alerts.extend(raised)
    return alerts
