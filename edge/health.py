"""The device's health as the cloud sees it: the retained status message and the heartbeat.

Counters are since the daemon started except ``dropped_telemetry`` (kept in the outbox file, so
since installation). ``faults`` holds what is wrong *now*, ``fault_details`` what the device saw
for each; the app shows them next to the nursery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from edge.sounds_to_ignore import IgnoreListStatus
from models.contract import Status

logger = logging.getLogger(__name__)

# Where Linux (the Raspberry Pi included) exposes the SoC temperature, in millidegrees.
CPU_THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Everything the status message reports, gathered from the daemon's parts."""

    outbox_depth: int
    dropped_telemetry: int
    sensor_failures: int
    audio_overflows: int
    audio_errors: int
    faults: list[str] = field(default_factory=list)
    # For each fault, what the device saw, in a sentence.
    fault_details: dict[str, str] = field(default_factory=dict)
    # The home's "not a cry" list as the device holds it; None: the status omits it.
    ignore_list: IgnoreListStatus | None = None


def read_cpu_temperature(path: Path = CPU_THERMAL_ZONE) -> float | None:
    """The SoC temperature in °C, or None on boards (and PCs) that do not expose one."""
    try:
        millidegrees = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    celsius = millidegrees / 1000.0
    return round(celsius, 1) if -40.0 <= celsius <= 150.0 else None


class StatusReporter:
    """Builds ``online``/``offline`` status payloads for the connection and the heartbeat."""

    def __init__(
        self,
        device_id: str,
        firmware_version: str,
        model_version: str | None,
        snapshot: Callable[[], HealthSnapshot],
        high_water_seq: Callable[[], int],
        cpu_temperature: Callable[[], float | None] = read_cpu_temperature,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._device_id = device_id
        self._firmware_version = firmware_version
        self._model_version = model_version
        self._snapshot = snapshot
        self._high_water_seq = high_water_seq
        self._cpu_temperature = cpu_temperature
        self._clock = clock
        self._started = clock()

    def status(self, state: str) -> Status:
        health = self._snapshot()
        ignored = health.ignore_list
        return Status(
            device_id=self._device_id,
            seq=max(self._high_water_seq(), 0),
            ts=datetime.now(UTC),
            state="online" if state == "online" else "offline",
            firmware_version=self._firmware_version,
            model_version=self._model_version,
            uptime_s=round(self._clock() - self._started, 1),
            outbox_depth=health.outbox_depth,
            dropped_telemetry=health.dropped_telemetry,
            sensor_failures=health.sensor_failures,
            audio_overflows=health.audio_overflows,
            audio_errors=health.audio_errors,
            cpu_temperature_c=self._cpu_temperature(),
            faults=health.faults,
            fault_details=health.fault_details or None,
            ignore_list_size=ignored.size if ignored else None,
            ignore_list_changed_at=ignored.changed_at if ignored else None,
            ignore_list_revision=ignored.revision if ignored else None,
            ignore_list_unknown=ignored.unknown if ignored else None,
        )
