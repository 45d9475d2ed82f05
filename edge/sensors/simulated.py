"""A deterministic simulated climate sensor for demos and tests (no hardware)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from edge.sensors.base import ClimateReading, SensorReadError

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class SimulatedClimate:
    """The room the simulated sensor sits in."""

    base_temperature_c: float = 20.5
    daily_swing_c: float = 1.5
    base_humidity_pct: float = 45.0
    daily_swing_pct: float = 5.0
    drift_c_per_hour: float = 0.0
    noise_c: float = 0.05
    # Every n-th read fails like a DHT22 checksum error (0: never).
    fail_every: int = 0
    # Probability that a read fails, drawn from the seeded generator (0.0: never).
    fail_rate: float = 0.0
    # Every n-th read comes back ``spike_c`` off, like a garbled DHT22 frame that passed its
    # checksum (0: never). The default +15 °C is a jump no room makes in seconds; +65 °C lands a
    # 20 °C room at an out-of-range 85 °C.
    spike_every: int = 0
    spike_c: float = 15.0
    # Unplugged sensor: every read fails.
    dead: bool = False
    # Hung sensor: every read succeeds with the first reading again, bit for bit.
    stuck: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within 0..1, got {self.fail_rate}")
        if self.fail_every < 0 or self.spike_every < 0:
            raise ValueError("fail_every and spike_every must be >= 0")


class SimulatedClimateSensor:
    """Reads follow a daily sine with optional drift, small noise and injected faults.

    Deterministic for a given seed and clock, so tests can assert exact values. Random failures
    draw from their own generator, so which reads fail does not depend on the noise settings.
    """

    def __init__(
        self, climate: SimulatedClimate, clock: Callable[[], float], seed: int = 0
    ) -> None:
        self._climate = climate
        self._clock = clock
        self._start = clock()
        self._random = random.Random(seed)  # noqa: S311 - simulation, not cryptography
        self._fault_random = random.Random(f"{seed}-faults")  # noqa: S311 - as above
        self._reads = 0
        self._frozen: ClimateReading | None = None

    def read(self) -> ClimateReading:
        self._reads += 1
        climate = self._climate
        if climate.dead:
            raise SensorReadError("simulated sensor not found, check wiring")
        if climate.fail_every and self._reads % climate.fail_every == 0:
            raise SensorReadError("simulated checksum failure")
        if climate.fail_rate and self._fault_random.random() < climate.fail_rate:
            raise SensorReadError("simulated random read failure")
        elapsed = self._clock() - self._start
        phase = 2 * math.pi * elapsed / SECONDS_PER_DAY
        temperature = (
            climate.base_temperature_c
            + climate.daily_swing_c * math.sin(phase)
            + climate.drift_c_per_hour * elapsed / 3600.0
            + self._random.gauss(0.0, climate.noise_c)
        )
        if climate.spike_every and self._reads % climate.spike_every == 0:
            temperature += climate.spike_c
        humidity = climate.base_humidity_pct - climate.daily_swing_pct * math.sin(phase)
        reading = ClimateReading(round(temperature, 2), round(min(max(humidity, 0.0), 100.0), 1))
        if climate.stuck:
            if self._frozen is None:
                self._frozen = reading
            return self._frozen
        return reading

    def close(self) -> None:
        return None
