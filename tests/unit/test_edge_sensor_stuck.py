"""A sensor stuck on one reading is reported, a calm room and a failing sensor are not."""

from __future__ import annotations

import pytest

from edge.sensors import ClimateReading, ClimateSampler, SimulatedClimateSensor
from edge.sensors.simulated import SimulatedClimate
from edge.sensors.stuck import StuckDetector

HOUR = 3600.0


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_value_repeated_for_stuck_after_s_is_stuck() -> None:
    stuck = StuckDetector(stuck_after_s=2 * HOUR, fresh_s=120.0)
    reading = ClimateReading(21.3, 45.2)
    for minute in range(120):
        stuck.observe(reading, minute * 60.0)
        assert stuck.stuck(minute * 60.0) is None
    stuck.observe(reading, 2 * HOUR)
    found = stuck.stuck(2 * HOUR)
    assert found is not None
    assert (found.reading, found.for_s) == (reading, 2 * HOUR)
    # The next different value clears it, and the count starts again from there.
    stuck.observe(ClimateReading(21.3, 45.3), 2 * HOUR + 3)
    assert stuck.stuck(2 * HOUR + 3) is None


def test_a_steady_temperature_beside_a_moving_humidity_is_a_calm_room() -> None:
    stuck = StuckDetector(stuck_after_s=HOUR, fresh_s=120.0)
    for minute in range(180):
        stuck.observe(ClimateReading(21.0, 45.0 + 0.1 * (minute % 2)), minute * 60.0)
    assert stuck.stuck(180 * 60.0) is None


def test_a_sensor_that_stopped_answering_is_failing_not_stuck() -> None:
    stuck = StuckDetector(stuck_after_s=HOUR, fresh_s=120.0)
    for minute in range(61):
        stuck.observe(ClimateReading(21.0, 45.0), minute * 60.0)
    assert stuck.stuck(HOUR) is not None
    assert stuck.stuck(HOUR + 121.0) is None


def test_the_sampler_reports_a_stuck_simulated_sensor_after_two_hours_by_default() -> None:
    clock = ManualClock()
    sensor = SimulatedClimateSensor(SimulatedClimate(stuck=True), clock)
    sampler = ClimateSampler(sensor, clock)
    first = sensor.read()
    for _ in range(round(2 * HOUR / 30.0)):
        sampler.sample()
        assert sampler.stats().stuck is None
        clock.now += 30.0
    sampler.sample()
    stats = sampler.stats()
    assert stats.stuck is not None
    assert stats.stuck.reading == first
    assert stats.stuck.for_s == pytest.approx(2 * HOUR)
    assert not stats.faulty  # every read succeeded: only "stuck" tells


def test_a_working_simulated_sensor_is_never_stuck() -> None:
    clock = ManualClock()
    sampler = ClimateSampler(
        SimulatedClimateSensor(SimulatedClimate(), clock), clock, stuck_after_s=600.0
    )
    for _ in range(round(6 * HOUR / 30.0)):
        sampler.sample()
        assert sampler.stats().stuck is None
        clock.now += 30.0


def test_the_simulated_stuck_mode_repeats_the_first_reading_bit_for_bit() -> None:
    clock = ManualClock()
    sensor = SimulatedClimateSensor(SimulatedClimate(stuck=True, noise_c=0.5), clock)
    first = sensor.read()
    clock.now += 6 * HOUR
    assert [sensor.read() for _ in range(5)] == [first] * 5
    moving = SimulatedClimateSensor(SimulatedClimate(noise_c=0.5), clock)
    assert len({moving.read() for _ in range(5)}) > 1


def test_stuck_after_s_must_be_positive() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="stuck_after_s"):
        ClimateSampler(SimulatedClimateSensor(SimulatedClimate(), clock), clock, stuck_after_s=0)
