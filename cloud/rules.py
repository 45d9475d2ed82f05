"""Alert rules: pure functions over a reading, event or presence change and the nursery's settings.

Nothing here does I/O. The collector loads the settings and the rule state, calls these
functions inside the transaction that stores the data, and stores what they return, so an alert
is decided exactly once per stored message however often the message is delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

# The settings moved to their own module; imported from here by the storage and the API too.
from cloud.nursery_settings import SETTING_RANGES as SETTING_RANGES
from cloud.nursery_settings import NurserySettings as NurserySettings
from cloud.nursery_settings import SettingRange as SettingRange
from cloud.nursery_settings import SettingsError as SettingsError
from cloud.nursery_settings import repair_stored_settings as repair_stored_settings


class HeardLabel(Protocol):
    """A sound class the detector heard and its score (the storage's record has this shape;
    the rules stay free of storage imports)."""

    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...


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
    # The device heard a cry episode but did not alert: it sounded like one the home marked
    # "not a cry". A notice (the parents can see it and undo the mark), never an alarm.
    CRY_IGNORED = "CRY_IGNORED"


class IgnoredLike(Protocol):
    """Why the device did not alert on a cry: it was like a marked episode (the storage's
    record, cloud.storage.records.IgnoredEpisodeRow, has this shape)."""

    @property
    def like_episode_id(self) -> int: ...

    @property
    def marked_at(self) -> datetime: ...

    @property
    def similarity(self) -> float: ...


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
    room: tuple[float | None, float | None] = (None, None),
    heard: Sequence[HeardLabel] = (),
    episode_id: int | None = None,
    ignored_stale: IgnoredLike | None = None,
) -> NewAlert:
    """``room`` is the (temperature, humidity) the device measured as it heard the cry: the
    alert's ``data.temperature`` / ``data.humidity`` (null when the device had no reading).
    ``heard`` is what the detector heard besides its cry score: ``data.heard``, a list of
    ``{"label", "score"}`` best first (empty when the device named nothing). ``episode_id`` is
    the device's episode (``data.episode_id``, which a caregiver can mark "not a cry"); absent
    for an upload's alert, which has no episode. ``ignored_stale`` is the device's reason for
    not alerting when the episode it cites is no longer marked (``data.ignored_stale``): the
    device decided on a list the home has changed since, so the cry alarms after all."""
    sick = is_sick(True, body_temperature_c, settings)
    message = "Baby is crying" + (" and may be sick" if sick else "")
    details = _cry_details(confidence, room, heard)
    if episode_id is not None:
        details["episode_id"] = episode_id
    if ignored_stale is not None:
        details["ignored_stale"] = _ignored_details(ignored_stale)
    return NewAlert(
        device_id, AlertKind.CRY_DETECTED, time, message, sick, details,
        received_at=received_at, escalate_after_s=settings.cry_escalate_after_s,
    )  # fmt: skip


def cry_ignored_notice(
    device_id: str,
    time: datetime,
    confidence: float,
    episode_id: int,
    ignored: IgnoredLike,
    received_at: datetime | None = None,
    room: tuple[float | None, float | None] = (None, None),
    heard: Sequence[HeardLabel] = (),
) -> NewAlert:
    """A cry episode the device did not alert on because it sounded like one marked "not a
    cry": a notice (no escalation), so the parents see it and can undo the mark. The date is
    the mark's, in UTC (the app shows its own local date from ``data.ignored.marked_at``)."""
    details = _cry_details(confidence, room, heard)
    details["episode_id"] = episode_id
    details["ignored"] = _ignored_details(ignored)
    message = (
        'Not alerted: it sounded like the sound you marked "not a cry" on'
        f" {ignored.marked_at:%Y-%m-%d}"
    )
    return NewAlert(
        device_id, AlertKind.CRY_IGNORED, time, message, details=details, received_at=received_at
    )


def _ignored_details(ignored: IgnoredLike) -> dict[str, Any]:
    return {
        "like_episode_id": ignored.like_episode_id,
        "marked_at": ignored.marked_at.isoformat(),
        "similarity": ignored.similarity,
    }


def _cry_details(
    confidence: float, room: tuple[float | None, float | None], heard: Sequence[HeardLabel]
) -> dict[str, Any]:
    temperature, humidity = room
    return {
        "confidence": confidence,
        "temperature": temperature,
        "humidity": humidity,
        "heard": [{"label": item.label, "score": item.score} for item in heard],
    }


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
    "cry_model_degraded": "The monitor's cry model is damaged and it listens with its simpler "
    "model alone, which misses more cries in noise: update or reinstall the monitor's software.",
    "clock": "The monitor's clock is not synchronised: check its internet connection "
    "(timedatectl status).",
    "outbox_full": "The monitor could not send for a long time and is dropping old "
    "readings: check its network connection.",
    "sound_memory": 'The monitor cannot write its memory of the sounds you marked "not a '
    'cry": it keeps them only until it restarts. Check its storage (SD card full or failing).',
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
