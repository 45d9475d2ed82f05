"""Alert rules: pure functions over a reading, event or presence change and the nursery's settings.

Nothing here does I/O. The collector loads the settings and the rule state, calls these
functions inside the transaction that stores the data, and stores what they return, so an alert
is decided exactly once per stored message however often the message is delivered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal


class SettingsError(ValueError):
    """Nursery settings with an unknown key or an invalid value; the message names the key."""


class AlertKind(StrEnum):
    CRY_DETECTED = "CRY_DETECTED"
    CLIMATE_OUT_OF_RANGE = "CLIMATE_OUT_OF_RANGE"
    CLIMATE_NORMAL = "CLIMATE_NORMAL"
    DEVICE_OFFLINE = "DEVICE_OFFLINE"
    DEVICE_ONLINE = "DEVICE_ONLINE"
    # `nursery-edge test-alert`: proves the path device -> broker -> collector -> app.
    TEST_ALERT = "TEST_ALERT"
    # The device heard sound above its loud-sound level for a while (the missed-cry fallback).
    LOUD_SOUND = "LOUD_SOUND"
    # A self-check failed on the device (dead microphone, stuck sensor, clock, ...).
    DEVICE_FAULT = "DEVICE_FAULT"


@dataclass(frozen=True, slots=True)
class NurserySettings:
    """What "safe" means in one nursery. Defaults follow common paediatric guidance for a
    baby's room (16 to 22 °C, 30 to 60 % relative humidity)."""

    temperature_min_c: float = 16.0
    temperature_max_c: float = 22.0
    humidity_min_pct: float = 30.0
    humidity_max_pct: float = 60.0
    # A reading out of range must persist this long before it alerts (a door opened briefly).
    climate_grace_s: float = 300.0
    offline_grace_s: float = 120.0
    # Body temperature above which a crying baby "may be sick" (backend-design.md).
    sick_body_temperature_c: float = 38.0
    # Alarms stay open until a caregiver acknowledges them; unacknowledged for this long they
    # are sent again and escalated to the next caregiver in the nursery's order.
    cry_escalate_after_s: float = 60.0
    loud_sound_escalate_after_s: float = 60.0
    offline_escalate_after_s: float = 600.0
    # After an alarm, the same kind from the same device does not raise a new one for this
    # long (device time): a long crying bout is one alarm, not a storm.
    alarm_cooldown_s: float = 120.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> NurserySettings:
        """Settings a person entered: anything unknown, not a finite number or outside its
        range (``SETTING_RANGES``) is refused with a message naming the key."""
        for key, value in values.items():
            if key not in SETTING_RANGES:
                raise SettingsError(f"{key}: unknown nursery setting")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{key}: must be a number, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{key}: must be a finite number")
            # Compared before float(): an integer too large for a float must not raise here.
            if not SETTING_RANGES[key].low <= value <= SETTING_RANGES[key].high:
                raise SettingsError(f"{key}: {SETTING_RANGES[key].describe()}")
        settings = replace(cls(), **{k: float(v) for k, v in values.items()})
        problem = settings._inconsistency()
        if problem is not None:
            raise SettingsError(problem)
        return settings

    @classmethod
    def from_stored(cls, values: object) -> tuple[NurserySettings, list[str]]:
        """Settings as stored, which older versions did not bound (``repair_stored_settings``):
        a bad stored value can never stop the rules. Returns the settings and what was
        repaired (empty when the document was valid)."""
        clean, problems = repair_stored_settings(values)
        return replace(cls(), **clean), problems

    def _inconsistency(self) -> str | None:
        if self.temperature_min_c >= self.temperature_max_c:
            return "temperature_min_c: must be below temperature_max_c"
        if self.humidity_min_pct >= self.humidity_max_pct:
            return "humidity_min_pct: must be below humidity_max_pct"
        return None


@dataclass(frozen=True, slots=True)
class SettingRange:
    low: float
    high: float
    unit: str

    def describe(self) -> str:
        return f"must be between {self.low:g} and {self.high:g} {self.unit}"


# What a parent may set (docs/api.md, "Nursery settings"). Bounded so that every value is one a
# nursery could mean, and so that no value can overflow the time arithmetic of the rules (a
# grace period of 1e300 s once stopped the collector's offline check).
DAY_S = 86_400.0
SETTING_RANGES: dict[str, SettingRange] = {
    # The room: from a cold room to a hot one; the default range is 16-22 °C.
    "temperature_min_c": SettingRange(0.0, 40.0, "°C"),
    "temperature_max_c": SettingRange(0.0, 40.0, "°C"),
    "humidity_min_pct": SettingRange(0.0, 100.0, "%"),
    "humidity_max_pct": SettingRange(0.0, 100.0, "%"),
    # Up to an hour out of range before the climate alert; up to a day offline before
    # DEVICE_OFFLINE.
    "climate_grace_s": SettingRange(0.0, 3_600.0, "seconds"),
    "offline_grace_s": SettingRange(0.0, DAY_S, "seconds"),
    # The baby's body temperature (from the app) above which crying "may be sick".
    "sick_body_temperature_c": SettingRange(36.0, 42.0, "°C"),
    "cry_escalate_after_s": SettingRange(1.0, DAY_S, "seconds"),
    "loud_sound_escalate_after_s": SettingRange(1.0, DAY_S, "seconds"),
    "offline_escalate_after_s": SettingRange(1.0, DAY_S, "seconds"),
    # A longer silence after an alarm would hide a new crying bout.
    "alarm_cooldown_s": SettingRange(0.0, 3_600.0, "seconds"),
}


_RANGE_KEYS = ("temperature_min_c", "temperature_max_c", "humidity_min_pct", "humidity_max_pct")


def repair_stored_settings(values: object) -> tuple[dict[str, float], list[str]]:
    """The usable part of a stored settings document and what was wrong with the rest: a value
    out of its range is clamped to it; an unknown key, or a value that is not a finite number,
    is left out (its default applies); min/max pairs that contradict each other are left out
    (the default ranges apply). What the collector's rules use and what the API shows."""
    if not isinstance(values, Mapping):
        return {}, [f"not a settings object ({type(values).__name__}); defaults apply"]
    clean: dict[str, float] = {}
    problems = []
    for key, value in values.items():
        if key not in SETTING_RANGES:
            problems.append(f"{key}: unknown, ignored")
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            problems.append(f"{key}: {value!r} is not a finite number; the default applies")
            continue
        bounds = SETTING_RANGES[key]
        clamped = float(min(max(value, bounds.low), bounds.high))
        if clamped != value:
            problems.append(f"{key}: {value!r} clamped to {clamped:g} ({bounds.describe()})")
        clean[key] = clamped
    problem = replace(NurserySettings(), **clean)._inconsistency()
    if problem is not None:
        problems.append(f"{problem}; the default ranges apply")
        clean = {key: value for key, value in clean.items() if key not in _RANGE_KEYS}
    return clean, problems


@dataclass(frozen=True, slots=True)
class NewAlert:
    device_id: str
    kind: AlertKind
    time: datetime
    message: str
    sick_detected: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    # When the message behind it reached the server.
    received_at: datetime | None = None
    # Set for alarms: they stay open until acknowledged and are escalated after this long.
    escalate_after_s: float | None = None


# --- cry ------------------------------------------------------------------------------------


def is_sick(
    cry_detected: bool, body_temperature_c: float | None, settings: NurserySettings
) -> bool:
    """The app's rule: crying together with a body temperature over 38 °C. The DHT22 measures
    the room, never the baby, so only a body temperature from the app can make this true."""
    return (
        cry_detected
        and body_temperature_c is not None
        and body_temperature_c > settings.sick_body_temperature_c
    )


def cry_alert(
    device_id: str,
    time: datetime,
    confidence: float,
    settings: NurserySettings,
    body_temperature_c: float | None = None,
    received_at: datetime | None = None,
) -> NewAlert:
    sick = is_sick(True, body_temperature_c, settings)
    message = "Baby is crying" + (" and may be sick" if sick else "")
    return NewAlert(
        device_id, AlertKind.CRY_DETECTED, time, message, sick, {"confidence": confidence},
        received_at=received_at, escalate_after_s=settings.cry_escalate_after_s,
    )  # fmt: skip


def loud_sound_alert(
    device_id: str,
    time: datetime,
    sound_dbfs: float | None,
    duration_s: float | None,
    settings: NurserySettings,
    received_at: datetime | None = None,
) -> NewAlert:
    heard = []
    if sound_dbfs is not None:
        heard.append(f"{sound_dbfs:.0f} dBFS")
    if duration_s is not None:
        heard.append(f"for {duration_s:.0f} s")
    summary = f" ({' '.join(heard)})" if heard else ""
    return NewAlert(
        device_id, AlertKind.LOUD_SOUND, time,
        f"Loud sound in the nursery{summary}: please check",
        details={"sound_dbfs": sound_dbfs, "duration_s": duration_s},
        received_at=received_at, escalate_after_s=settings.loud_sound_escalate_after_s,
    )  # fmt: skip


def in_cooldown(last_alarm: datetime | None, time: datetime, settings: NurserySettings) -> bool:
    """An alarm of the same kind from the same device was raised less than the cooldown ago."""
    return last_alarm is not None and (
        timedelta(0) <= time - last_alarm < timedelta(seconds=settings.alarm_cooldown_s)
    )


# --- device self-checks ----------------------------------------------------------------------

# What to check, per fault name the device reports (models/contract/payloads.py Status.faults).
FAULT_ADVICE = {
    "sensor": "The room sensor keeps failing to read: check its wiring and data pin.",
    "sensor_stuck": "The room sensor has reported identical values for hours: it may be "
    "stuck. Restart the monitor; replace the sensor if it stays stuck.",
    "microphone": "No audio arrives from the microphone: check that it is plugged in.",
    "microphone_dead": "The microphone delivers only silence or a constant signal: it is "
    "unplugged, muted or broken. Check the cable and the input volume (alsamixer).",
    "clock": "The monitor's clock is not synchronised: check its internet connection "
    "(timedatectl status).",
    "outbox_full": "The monitor could not send for a long time and is dropping old "
    "readings: check its network connection.",
}


MAX_FAULT_TEXT = 300


def evaluate_faults(
    device_id: str,
    faults: list[str],
    details: dict[str, str],
    time: datetime,
    previous: list[str],
    received_at: datetime | None = None,
) -> list[NewAlert]:
    """One alert per fault that newly appears in a device's status, saying what to check."""
    alerts = []
    for fault in faults:
        if fault in previous:
            continue
        # Bounded again here (the contract bounds them too): an alert travels in a NOTIFY.
        fault = fault[:MAX_FAULT_TEXT]
        advice = FAULT_ADVICE.get(fault, f"The monitor reports a problem ({fault}).")
        seen = details.get(fault)
        seen = None if seen is None else seen[:MAX_FAULT_TEXT]
        message = advice + (f" (The monitor saw: {seen}.)" if seen else "")
        alerts.append(
            NewAlert(
                device_id, AlertKind.DEVICE_FAULT, time, message,
                details={"fault": fault, "seen": seen}, received_at=received_at,
            )
        )  # fmt: skip
    return alerts


def test_alert(device_id: str, time: datetime) -> NewAlert:
    """The installer's end-to-end check; never a sign that anything is wrong."""
    return NewAlert(
        device_id,
        AlertKind.TEST_ALERT,
        time,
        "Test alert from the nursery device: alerts reach this app",
    )


# --- room climate ---------------------------------------------------------------------------

Metric = Literal["temperature", "humidity"]
Condition = Literal["low", "high"]
_UNITS = {"temperature": "°C", "humidity": "%"}


@dataclass(frozen=True, slots=True)
class MetricState:
    """Where one metric stands: out of range since when, and whether that was announced."""

    condition: Condition | None = None
    since: datetime | None = None
    alerted: bool = False
    last_time: datetime | None = None


def _bounds(metric: Metric, settings: NurserySettings) -> tuple[float, float]:
    if metric == "temperature":
        return settings.temperature_min_c, settings.temperature_max_c
    return settings.humidity_min_pct, settings.humidity_max_pct


def evaluate_climate(
    device_id: str,
    metric: Metric,
    value: float | None,
    time: datetime,
    state: MetricState,
    settings: NurserySettings,
) -> tuple[MetricState, list[NewAlert]]:
    """One reading: ``evaluate_climate_series`` with a single sample."""
    return evaluate_climate_series(device_id, metric, ((value, time),), state, settings)


def evaluate_climate_series(
    device_id: str,
    metric: Metric,
    samples: Iterable[tuple[float | None, datetime]],
    state: MetricState,
    settings: NurserySettings,
) -> tuple[MetricState, list[NewAlert]]:
    """One device's readings of ``metric`` as ``(value, time)`` in time order: one alert when
    the metric stays out of range past the grace period, one "back to normal" when it recovers;
    nothing for readings older than the last one considered (replays).

    The state is carried in locals and built once at the end: a batch brings many readings per
    device, and a state object per reading was most of the collector's rule cost."""
    condition, since, alerted = state.condition, state.since, state.alerted
    last_time = state.last_time
    low, high = _bounds(metric, settings)
    grace = timedelta(seconds=settings.climate_grace_s)
    unit = _UNITS[metric]
    alerts: list[NewAlert] = []
    for value, time in samples:
        if value is None or (last_time is not None and time <= last_time):
            continue
        last_time = time
        reading: Condition | None = "low" if value < low else "high" if value > high else None
        if reading is None:
            if alerted:
                alerts.append(
                    NewAlert(
                        device_id, AlertKind.CLIMATE_NORMAL, time,
                        f"Room {metric} back to normal: {value:g} {unit}",
                        details={"metric": metric, "value": value},
                    )
                )  # fmt: skip
            condition, since, alerted = None, None, False
            continue
        if reading != condition or since is None:
            condition, since, alerted = reading, time, False
        if not alerted and time - since >= grace:
            word = "too low" if condition == "low" else "too high"
            alerts.append(
                NewAlert(
                    device_id, AlertKind.CLIMATE_OUT_OF_RANGE, time,
                    f"Room {metric} {word}: {value:g} {unit} since {since:%H:%M} UTC",
                    details={"metric": metric, "condition": condition, "value": value,
                             "since": since.isoformat()},
                )
            )  # fmt: skip
            alerted = True
    if last_time == state.last_time:  # nothing considered: the same state
        return state, alerts
    return MetricState(condition, since, alerted, last_time), alerts


# --- presence -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PresenceState:
    offline_since: datetime | None = None
    alerted: bool = False


def evaluate_status(
    device_id: str, online: bool, time: datetime, state: PresenceState
) -> tuple[PresenceState, list[NewAlert]]:
    """A status change: going offline starts the grace clock; coming back after an offline
    alert announces the recovery."""
    if online:
        alerts = []
        if state.alerted:
            alerts.append(NewAlert(device_id, AlertKind.DEVICE_ONLINE, time, "Monitor back online"))
        return PresenceState(), alerts
    if state.offline_since is not None:
        return state, []
    return PresenceState(offline_since=time), []


def evaluate_offline(
    device_id: str, now: datetime, state: PresenceState, settings: NurserySettings
) -> tuple[PresenceState, list[NewAlert]]:
    """Periodic check: offline for longer than the grace period → one alert."""
    if state.offline_since is None or state.alerted:
        return state, []
    if now - state.offline_since < timedelta(seconds=settings.offline_grace_s):
        return state, []
    message = f"Monitor offline since {state.offline_since:%H:%M} UTC"
    alert = NewAlert(
        device_id, AlertKind.DEVICE_OFFLINE, now, message,
        details={"since": state.offline_since.isoformat()},
        escalate_after_s=settings.offline_escalate_after_s,
    )  # fmt: skip
    return replace(state, alerted=True), [alert]
