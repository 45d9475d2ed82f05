"""Applying the alert rules to what one ingest batch newly stored (pure: no I/O).

Storage backends call ``evaluate_batch`` inside the transaction that stores the batch, with the
rule state they loaded for the batch's devices, and store the states and alerts it returns.
Only newly stored rows are passed in, so a redelivered message never alerts twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

# Re-exported: the storage backends read each device's settings through it.
from cloud.nursery_settings import settings_from_json as settings_from_json
from cloud.rules import (
    Metric,
    MetricState,
    NewAlert,
    NurserySettings,
    PresenceState,
    cry_alert,
    cry_ignored_notice,
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
        """The stored rule state; one that cannot be read is logged and started afresh (the
        device's data must still be stored: at worst an alert it had raised is raised again)."""
        try:
            return cls._from_document(settings, document)
        except Exception:
            RULE_FAILURES.add()
            logger.exception("rule state of a device is unreadable; starting it afresh")
            return cls(settings)

    @classmethod
    def _from_document(cls, settings: NurserySettings, document: dict[str, Any]) -> DeviceRules:
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


_TIME_KEYS = frozenset({"since", "last_time", "offline_since"})


def _decode(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _time_of(v) if k in _TIME_KEYS else v for k, v in values.items()}


def _time_of(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    return datetime.fromisoformat(value)


class RuleFailureCount:
    """How often one device's rules raised and were skipped, for the collector's metrics.

    Process-wide on purpose: the rules run inside both storage backends' transactions (the
    SQLite one in a worker thread), and threading a counter through the storage interface for a
    path that should never be taken would widen it for every caller. One collector runs per
    process; its /metrics reports this count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count


RULE_FAILURES = RuleFailureCount()


def _rule_failed(device_id: str, stage: str) -> None:
    """One device's rule work raised: logged with its traceback and counted, and the batch goes
    on, so the data of this device and of every other one is still stored (and acknowledged),
    and the other devices' alerts are still raised. Called from ``except`` blocks: a ``try``
    costs nothing until it catches, and the climate loop runs for every device of every batch."""
    RULE_FAILURES.add()
    logger.exception(
        "%s rules of device %s failed; its data is stored, this alert check skipped",
        stage, device_id,
    )  # fmt: skip


def evaluate_batch(
    rules: dict[str, DeviceRules],
    readings: list[TelemetryRow],
    events: list[EventRow],
    status_changes: list[StatusRow],
    statuses: Sequence[StatusRow] = (),
    marked: Mapping[str, Collection[int]] | None = None,
) -> list[NewAlert]:
    """Update ``rules`` in place from the batch's new rows (in device time order) and return the
    alerts they raise. ``status_changes`` changed a device's online state; ``statuses`` are all
    the statuses applied (their faults are checked). ``marked`` holds, per device, the episode
    ids marked "not a cry" now (loaded in the batch's transaction; needed only for the devices
    with an ignored cry in ``events``, cloud.storage.not_a_cry_plan.devices_citing_marks)."""
    marked = marked or {}
    alerts: list[NewAlert] = []
    for device_id, device_readings in _per_device(readings).items():
        alerts.extend(_evaluate_climate(device_id, rules[device_id], device_readings))
    # In device time order across devices, as if the readings had been taken one by one.
    alerts.sort(key=lambda alert: alert.time)
    for event in sorted(events, key=lambda row: (row.time, row.seq)):
        try:
            alerts.extend(
                _evaluate_event(rules[event.device_id], event, marked.get(event.device_id, ()))
            )
        except Exception:
            _rule_failed(event.device_id, "event")
    for status in sorted(statuses, key=lambda row: row.time):
        try:
            alerts.extend(_evaluate_faults(rules[status.device_id], status))
        except Exception:
            _rule_failed(status.device_id, "fault")
    for status in sorted(status_changes, key=lambda row: row.received_at):
        try:
            device = rules[status.device_id]
            device.presence, raised = evaluate_status(
                # Server time: a last will carries the device time of its connection, not of
                # the loss.
                status.device_id, status.online, status.received_at, device.presence,
            )  # fmt: skip
            alerts.extend(raised)
        except Exception:
            _rule_failed(status.device_id, "presence")
    return alerts


def _evaluate_climate(
    device_id: str, device: DeviceRules, readings: list[TelemetryRow]
) -> list[NewAlert]:
    """One device's readings of the batch (in time order) through the climate rules. A
    metric's state is replaced together with its alerts, so a failure loses neither half."""
    alerts: list[NewAlert] = []
    for metric in METRICS:
        samples = [
            (r.temperature if metric == "temperature" else r.humidity, r.time) for r in readings
        ]
        try:
            device.climate[metric], raised = evaluate_climate_series(
                device_id, metric, samples, device.climate.get(metric, MetricState()),
                device.settings,
            )  # fmt: skip
        except Exception:
            _rule_failed(device_id, f"{metric} climate")
            continue
        alerts.extend(raised)
    return alerts


def _evaluate_faults(device: DeviceRules, status: StatusRow) -> list[NewAlert]:
    """An alert per fault the device newly reports."""
    faults = [str(f) for f in cast(list[object], status.details.get("faults") or [])]
    details = cast(dict[str, str], status.details.get("fault_details") or {})
    alerts = evaluate_faults(
        status.device_id, faults, details, status.time, device.faults, status.received_at
    )
    device.faults = faults
    return alerts


def _evaluate_event(
    device: DeviceRules, event: EventRow, marked: Collection[int]
) -> list[NewAlert]:
    """A cry or loud sound (one alarm per cooldown), or the installer's test event. ``marked``:
    the device's episode ids marked "not a cry" now."""
    if event.kind == TEST_EVENT:
        return [test_alert(event.device_id, event.time)]
    if event.kind not in (CRY_STARTED, LOUD_SOUND):
        return []
    # The device decided on the list it held then. An episode it cites that is no longer
    # marked (an undo or a clear still on its way to it, a list from before the device changed
    # hands, an outbox backlog sent long after) is no reason to stay quiet: it alarms as any
    # cry, with the device's reason attached so the app can tell.
    ignored = event.ignored if event.kind == CRY_STARTED else None
    if ignored is not None and ignored.like_episode_id in marked:
        # Before the cooldown, and without starting it: the device decided not to alert, so a
        # real cry right after must still alarm. One notice per ignored episode (the device
        # already holds episodes apart); never an alarm, so nobody is woken.
        return [
            cry_ignored_notice(
                event.device_id, event.time, event.confidence, event.episode_id, ignored,
                received_at=event.received_at, room=(event.temperature, event.humidity),
                heard=event.heard,
            )
        ]  # fmt: skip
    last = device.last_alarm.get(event.kind)
    if in_cooldown(last, event.time, device.settings):
        return []
    # Never moved back: a replayed older event must not shorten the next cooldown.
    device.last_alarm[event.kind] = event.time if last is None else max(last, event.time)
    if event.kind == CRY_STARTED:
        return [
            cry_alert(
                event.device_id, event.time, event.confidence, device.settings,
                received_at=event.received_at, room=(event.temperature, event.humidity),
                heard=event.heard, episode_id=event.episode_id, ignored_stale=ignored,
            )
        ]  # fmt: skip
    return [
        loud_sound_alert(
            event.device_id, event.time, event.sound_dbfs, event.duration_s, device.settings,
            received_at=event.received_at,
        )
    ]  # fmt: skip


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
        try:
            device.presence, raised = evaluate_offline(
                device_id, now, device.presence, device.settings
            )
        except Exception:
            _rule_failed(device_id, "offline")
            continue
        alerts.extend(raised)
    return alerts
