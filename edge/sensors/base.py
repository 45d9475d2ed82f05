"""The ``ClimateSensor`` interface shared by the DHT22 driver and the simulated sensor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SensorReadError(RuntimeError):
    """One read failed (checksum, timeout, no response). Routine for a DHT22: count and retry."""


@dataclass(frozen=True, slots=True)
class ClimateReading:
    temperature_c: float
    humidity_pct: float


class ClimateSensor(Protocol):
    def read(self) -> ClimateReading:
        """Take one reading; raises SensorReadError when the sensor did not answer correctly."""
        ...

    def close(self) -> None: ...
