"""Applying the alert rules to what one ingest batch newly stored (pure: no I/O).

Storage backends call ``evaluate_batch`` inside the transaction that stores the batch, with the
rule state they loaded for the batch's devices, and store the states and alerts it returns.
Only newly stored rows are passed in, so a redelivered message never alerts twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from cloud.rules import (
    Metric,
    MetricState,
    NewAlert,
    NurserySettings,
    PresenceState,
    SettingsError,
    cry_alert,
    evaluate_climate,
    evaluate_offline,
    evaluate_status,
    test_alert,
)
from cloud.storage.records import EventRow, StatusRow, TelemetryRow

logger = logging.getLogger(__name__)

METRICS: tuple[Metric, ...] = ("temperature", "humidity")
CRY_STARTED = "cry_started"
TEST_EVENT = "test"


@dataclass(slots=True)
class DeviceRules:
    """One device's settings and rule state, as loaded from and saved to storage."""

    settings: NurserySettings
    climate: dict[Metric, MetricState] = field(default_factory=dict)
    presence: PresenceState = field(default_factory=PresenceState)

    def state_document(self) -> dict[str, Any]:
        return {
            "climate": {metric: _fields(state) for metric, state in self.climate.items()},
            "presence": _fields(self.presence),
        }

    @classmethod
    def from_document(cls, settings: NurserySettings, document: dict[str, Any]) -> DeviceRules:
        climate = {
            cast(Metric, metric): MetricState(**_decode(values))
            for metric, values in document.get("climate", {}).items()
        }
        presence = PresenceState(**_decode(document.get("presence", {})))
        return cls(settings, climate, presence)


def _fields(state: MetricState | PresenceState) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies and showed up in the ingest profile (runs for
    # every device of every batch).
    values = {name: getattr(state, name) for name in state.__slots__}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _decode(values: dict[str, Any]) -> dict[str, Any]:
    time_keys = {"since", "last_time", "offline_since"}
    return {
        k: datetime.fromisoformat(v) if k in time_keys and isinstance(v, str) else v
        for k, v in values.items()
    }


def settings_of(device_id: str, document: dict[str, Any]) -> NurserySettings:
    try:
        return NurserySettings.from_mapping(document)
    except SettingsError as exc:
        # Settings are validated when written; a bad stored document must not stop ingest.
        logger.error("device %s has invalid settings (%s); using defaults", device_id, exc)
        return NurserySettings()


def evaluate_batch(
    rules: dict[str, DeviceRules],
    readings: list[TelemetryRow],
    events: list[EventRow],
    status_changes: list[StatusRow],
) -> list[NewAlert]:
    """Update ``rules`` in place from the batch's new rows (in device time order) and return the
    alerts they raise."""
    alerts: list[NewAlert] = []
    for reading in sorted(readings, key=lambda row: (row.time, row.seq)):
        device = rules[reading.device_id]
        for metric in METRICS:
            value = reading.temperature if metric == "temperature" else reading.humidity
            state = device.climate.get(metric, MetricState())
            device.climate[metric], raised = evaluate_climate(
                reading.device_id, metric, value, reading.time, state, device.settings
            )
            alerts.extend(raised)
    for event in sorted(events, key=lambda row: (row.time, row.seq)):
        if event.kind == CRY_STARTED:
            device = rules[event.device_id]
            alerts.append(cry_alert(event.device_id, event.time, event.confidence, device.settings))
        elif event.kind == TEST_EVENT:
            alerts.append(test_alert(event.device_id, event.time))
    for status in sorted(status_changes, key=lambda row: row.time):
        device = rules[status.device_id]
        device.presence, raised = evaluate_status(
            status.device_id, status.online, status.time, device.presence
        )
        alerts.extend(raised)
    return alerts


def evaluate_presence(rules: dict[str, DeviceRules], now: datetime) -> list[NewAlert]:
    """The periodic offline check over devices currently offline."""
    alerts: list[NewAlert] = []
    for device_id, device in rules.items():
        device.presence, raised = evaluate_offline(device_id, now, device.presence, device.settings)
        alerts.extend(raised)
    return alerts
