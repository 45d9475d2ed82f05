"""The simulated climate sensor is deterministic, plausible and fails when told to."""

from __future__ import annotations

import pytest

from edge.sensors import SensorReadError, SimulatedClimateSensor
from edge.sensors.simulated import SimulatedClimate


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_same_seed_same_readings() -> None:
    first = SimulatedClimateSensor(SimulatedClimate(), ManualClock(), seed=7)
    second = SimulatedClimateSensor(SimulatedClimate(), ManualClock(), seed=7)
    assert [first.read() for _ in range(5)] == [second.read() for _ in range(5)]


def test_readings_follow_the_daily_cycle_and_drift() -> None:
    clock = ManualClock()
    sensor = SimulatedClimateSensor(
        SimulatedClimate(noise_c=0.0, drift_c_per_hour=1.0), clock, seed=0
    )
    start = sensor.read()
    clock.now = 6 * 3600.0  # a quarter day: the sine peaks
    later = sensor.read()
    assert start.temperature_c == pytest.approx(20.5)
    assert later.temperature_c == pytest.approx(20.5 + 1.5 + 6.0)
    assert later.humidity_pct == pytest.approx(40.0)


def test_injected_failures() -> None:
    sensor = SimulatedClimateSensor(SimulatedClimate(fail_every=3), ManualClock())
    sensor.read()
    sensor.read()
    with pytest.raises(SensorReadError):
        sensor.read()
    sensor.read()
