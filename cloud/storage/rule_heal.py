"""Setting back rule-state times that lie in the future (pure; both backends apply it).

The collector now refuses readings and events dated beyond the time window
(``models.contract.TimeWindow``), but a state stored before that may hold one: a single
reading dated 9999-12-31 became the newest time the climate rules had considered, and every
real reading after it was skipped as a replay, so the device could never raise a climate
alert again. Each batch heals the states it loads before the rules run.

What counts as "the future" is per device: the latest of the server clock now, the batch's
receive times and the device's own newest message time in the batch (a device whose clock
runs a little fast, within the window, keeps its times), plus the widest window an operator
may set (a day: no setting lets the collector accept a time beyond it, so a device whose clock
is fast within a widened window keeps its cooldowns).
A time beyond it is forgotten where forgetting is safe - the newest considered reading (the
batch's new readings set it again) and when an out-of-range spell began (the next reading
starts it again) - and the cooldown it started ends; a device offline "since" the future is
offline since now, so the offline alert still comes after the grace period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from cloud.alerting import DeviceRules
from cloud.storage.records import EventRow, ReportedConfigRow, StatusRow, TelemetryRow
from models.contract import LARGEST_MAX_AHEAD

Row = TelemetryRow | EventRow | StatusRow | ReportedConfigRow


def heal_future_times(
    rules: Mapping[str, DeviceRules], rows: Sequence[Row], clock_now: datetime
) -> list[str]:
    """Set back, in place, every time in ``rules`` later than its device's limit; returns the
    devices whose state was healed. ``rows`` are the batch's messages of known devices;
    ``clock_now`` is the server clock (a batch's receive times alone may be older than a
    state a later batch already stored, and must not make that state look like the future)."""
    if not rules or not rows:
        return []
    now = max(clock_now, *(row.received_at for row in rows))
    newest: dict[str, datetime] = {}
    for row in rows:
        if row.device_id not in newest or newest[row.device_id] < row.time:
            newest[row.device_id] = row.time
    healed = []
    for device_id, device in rules.items():
        limit = _later_by(max(now, newest.get(device_id, now)), LARGEST_MAX_AHEAD)
        if _heal(device, limit, now):
            healed.append(device_id)
    return healed


def _later_by(time: datetime, margin: timedelta) -> datetime:
    """``time + margin``, or the latest representable time where that would overflow (a row
    dated 9999-12-31 that reached storage without the collector's time window)."""
    latest = datetime.max.replace(tzinfo=time.tzinfo)
    return latest if time > latest - margin else time + margin


def _heal(device: DeviceRules, limit: datetime, now: datetime) -> bool:
    def future(time: datetime | None) -> bool:
        return time is not None and time > limit

    healed = False
    for metric, state in device.climate.items():
        if future(state.since) or future(state.last_time):
            device.climate[metric] = replace(
                state,
                since=None if future(state.since) else state.since,
                last_time=None if future(state.last_time) else state.last_time,
            )
            healed = True
    if future(device.presence.offline_since):
        device.presence = replace(device.presence, offline_since=now)
        healed = True
    for kind in [kind for kind, time in device.last_alarm.items() if future(time)]:
        del device.last_alarm[kind]
        healed = True
    return healed
