"""The climate sampler smooths, filters and counts what a flaky sensor reports."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pytest

from edge.sensors import (
    ClimateReading,
    ClimateSampler,
    ClimateStats,
    SensorRange,
    SensorReadError,
    SimulatedClimateSensor,
)
from edge.sensors.simulated import SimulatedClimate


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedSensor:
    """Stands in for the hardware: returns (or raises) the scripted outcomes in order."""

    def __init__(self, outcomes: Iterable[ClimateReading | Exception] = ()) -> None:
        self.outcomes = list(outcomes)
        self.reads = 0
        self.closed = 0

    def read(self) -> ClimateReading:
        self.reads += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        self.closed += 1


def r(temperature_c: float, humidity_pct: float = 45.0) -> ClimateReading:
    return ClimateReading(temperature_c, humidity_pct)


def fail() -> SensorReadError:
    return SensorReadError("checksum")


def run(sampler: ClimateSampler, clock: ManualClock, count: int, step_s: float = 3.0) -> None:
    for _ in range(count):
        sampler.sample()
        clock.now += step_s


def make(
    outcomes: Iterable[ClimateReading | Exception], **kwargs: Any
) -> tuple[ClimateSampler, ScriptedSensor, ManualClock]:
    clock = ManualClock()
    sensor = ScriptedSensor(outcomes)
    return ClimateSampler(sensor, clock, **kwargs), sensor, clock


def assert_reading(
    actual: ClimateReading | None, temperature_c: float, humidity_pct: float
) -> None:
    assert actual is not None
    assert actual.temperature_c == pytest.approx(temperature_c)
    assert actual.humidity_pct == pytest.approx(humidity_pct)


def test_reports_the_median_of_the_last_window_of_good_reads() -> None:
    readings = [r(20.0, 40.0), r(21.0, 44.0), r(20.4, 41.0), r(22.0, 42.0), r(20.6, 43.0)]
    sampler, _, clock = make(
        [r(30.0, 60.0), *readings], window=5, max_jump_c=50.0, max_jump_pct=50.0
    )
    assert sampler.current() is None
    run(sampler, clock, 6)
    # The first reading (30 °C) has left the window of five.
    assert sampler.current() == ClimateReading(20.6, 42.0)
    assert sampler.stats() == ClimateStats(
        reads=6, failures=0, rejected=0, consecutive_failures=0, faulty=False
    )


def test_median_of_an_even_window_averages_the_middle_pair() -> None:
    sampler, _, clock = make([r(20.0, 40.0), r(21.0, 42.0)], window=4)
    run(sampler, clock, 2)
    assert_reading(sampler.current(), 20.5, 41.0)


def test_never_reads_more_often_than_the_minimum_interval() -> None:
    sampler, sensor, clock = make([r(20.0)] * 3, min_interval_s=2.0)
    clock.now = 100.0
    sampler.sample()
    clock.now = 101.0
    sampler.sample()
    clock.now = 101.999
    sampler.sample()
    assert sensor.reads == 1
    clock.now = 102.0
    sampler.sample()
    assert sensor.reads == 2
    sampler.sample()
    assert sensor.reads == 2
    assert sampler.stats().reads == 2


def test_failed_reads_also_count_against_the_minimum_interval() -> None:
    sampler, sensor, clock = make([fail(), r(20.0)], min_interval_s=2.0)
    sampler.sample()
    clock.now += 1.0
    sampler.sample()
    assert sensor.reads == 1


@pytest.mark.parametrize(
    ("range_", "reading"),
    [
        (SensorRange.DHT22, r(85.0)),
        (SensorRange.DHT22, r(-40.1)),
        (SensorRange.DHT22, r(20.0, 100.5)),
        (SensorRange.DHT22, r(float("nan"))),
        (SensorRange.DHT11, r(-1.0)),
        (SensorRange.DHT11, r(20.0, 95.0)),
        (SensorRange.DHT11, r(20.0, 19.0)),
    ],
)
def test_out_of_range_readings_are_rejected(range_: SensorRange, reading: ClimateReading) -> None:
    clock = ManualClock()
    sampler = ClimateSampler(ScriptedSensor([reading]), clock, range_=range_)
    sampler.sample()
    assert sampler.current() is None
    assert sampler.stats() == ClimateStats(
        reads=1, failures=0, rejected=1, consecutive_failures=1, faulty=False
    )


def test_presets_match_the_datasheets() -> None:
    assert SensorRange(-40.0, 80.0, 0.0, 100.0) == SensorRange.DHT22
    assert SensorRange(0.0, 50.0, 20.0, 90.0) == SensorRange.DHT11
    assert SensorRange.DHT11.contains(r(50.0, 90.0))
    assert not SensorRange.DHT11.contains(r(50.1, 90.0))


def test_a_jump_from_the_median_is_rejected() -> None:
    sampler, _, clock = make(
        [r(20.0), r(20.2), r(20.1), r(35.1), r(20.3), r(20.2, 70.0), r(20.2)],
        max_jump_c=5.0,
        max_jump_pct=20.0,
    )
    run(sampler, clock, 7)
    assert sampler.current() == ClimateReading(20.2, 45.0)
    stats = sampler.stats()
    assert (stats.reads, stats.rejected, stats.consecutive_failures) == (7, 2, 0)


def test_a_small_change_within_the_limits_is_accepted() -> None:
    sampler, _, clock = make([r(20.0, 45.0), r(24.9, 64.9)], window=1)
    run(sampler, clock, 2)
    assert sampler.current() == ClimateReading(24.9, 64.9)
    assert sampler.stats().rejected == 0


def test_a_genuine_step_change_is_accepted_once_it_persists() -> None:
    before = [r(20.0), r(20.1), r(20.0)]
    after = [r(27.0), r(27.2), r(27.1), r(27.3)]
    sampler, _, clock = make([*before, *after], confirm_after=3)
    run(sampler, clock, 5)
    # Two readings at 27 °C are not yet believed.
    assert sampler.current() == ClimateReading(20.0, 45.0)
    assert sampler.stats().rejected == 2
    run(sampler, clock, 1)
    # The third agreeing one re-seeds the window with all three.
    assert sampler.current() == ClimateReading(27.1, 45.0)
    run(sampler, clock, 1)
    assert_reading(sampler.current(), 27.15, 45.0)
    assert sampler.stats().consecutive_failures == 0


def test_disagreeing_outliers_do_not_add_up_to_a_step_change() -> None:
    outliers = [r(30.0), r(40.0), r(10.0), r(50.0), r(0.0)]
    sampler, _, clock = make([r(20.0), *outliers], confirm_after=3)
    run(sampler, clock, 6)
    assert sampler.current() == ClimateReading(20.0, 45.0)
    assert sampler.stats().rejected == 5


def test_failures_between_step_readings_do_not_reset_the_confirmation() -> None:
    sampler, _, clock = make([r(20.0), r(28.0), fail(), r(28.1), r(85.0), r(28.2)], confirm_after=3)
    run(sampler, clock, 6)
    assert sampler.current() == ClimateReading(28.1, 45.0)


def test_failures_are_counted_and_the_sensor_becomes_faulty_then_recovers() -> None:
    sampler, _, clock = make([r(20.0), fail(), fail(), r(99.0), fail(), r(20.5)], fault_after=4)
    run(sampler, clock, 4)
    assert sampler.stats() == ClimateStats(
        reads=4, failures=2, rejected=1, consecutive_failures=3, faulty=False
    )
    run(sampler, clock, 1)
    assert sampler.stats() == ClimateStats(
        reads=5, failures=3, rejected=1, consecutive_failures=4, faulty=True
    )
    run(sampler, clock, 1)
    assert sampler.stats() == ClimateStats(
        reads=6, failures=3, rejected=1, consecutive_failures=0, faulty=False
    )
    assert_reading(sampler.current(), 20.25, 45.0)


def test_a_stale_median_is_reported_as_none() -> None:
    sampler, _, clock = make([r(20.0), fail(), fail()], max_age_s=120.0)
    sampler.sample()
    clock.now += 60.0
    sampler.sample()
    clock.now += 60.0
    assert sampler.current() == ClimateReading(20.0, 45.0)
    sampler.sample()
    clock.now += 0.5
    assert sampler.current() is None


def test_after_an_outage_the_old_median_is_not_used_to_reject_readings() -> None:
    sampler, _, clock = make([r(20.0), r(27.0)], max_age_s=120.0)
    sampler.sample()
    clock.now += 600.0
    sampler.sample()
    assert sampler.current() == ClimateReading(27.0, 45.0)
    assert sampler.stats().rejected == 0


def test_unexpected_exceptions_are_swallowed_counted_and_logged_once_per_streak(
    caplog: pytest.LogCaptureFixture,
) -> None:
    boom = OSError(22, "Invalid argument")
    sampler, _, clock = make([boom, boom, boom, r(20.0), ValueError("again")])
    with caplog.at_level(logging.DEBUG, logger="edge.sensors.sampler"):
        run(sampler, clock, 3)
        errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert errors[0].exc_info is not None
        run(sampler, clock, 2)
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 2  # a new streak after a good read is logged again
    assert sampler.stats() == ClimateStats(
        reads=5, failures=4, rejected=0, consecutive_failures=1, faulty=False
    )


def test_close_closes_the_sensor_once_and_stops_sampling() -> None:
    sampler, sensor, clock = make([r(20.0), r(20.0)])
    sampler.sample()
    sampler.close()
    sampler.close()
    clock.now += 10.0
    sampler.sample()
    assert (sensor.closed, sensor.reads) == (1, 1)


def test_close_never_raises() -> None:
    class BrokenClose(ScriptedSensor):
        def close(self) -> None:
            raise RuntimeError("deinit failed")

    ClimateSampler(BrokenClose(), ManualClock()).close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_interval_s": 0.0},
        {"window": 0},
        {"max_jump_c": 0.0},
        {"max_jump_pct": -1.0},
        {"confirm_after": 1},
        {"fault_after": 0},
        {"max_age_s": 0.0},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ClimateSampler(ScriptedSensor(), ManualClock(), **kwargs)


def test_with_the_simulated_sensor_spikes_and_failures_never_reach_the_median() -> None:
    clock = ManualClock()
    climate = SimulatedClimate(
        daily_swing_c=0.0, daily_swing_pct=0.0, noise_c=0.0, spike_every=4, fail_every=7
    )
    sampler = ClimateSampler(SimulatedClimateSensor(climate, clock), clock)
    run(sampler, clock, 28)
    assert sampler.current() == ClimateReading(20.5, 45.0)
    stats = sampler.stats()
    # Reads 4, 8, ... spike (+15 °C, rejected as a jump); 7, 14, 21 and 28 fail (28 would spike).
    assert (stats.reads, stats.failures, stats.rejected, stats.faulty) == (28, 4, 6, False)


def test_with_a_dead_simulated_sensor_the_sampler_reports_a_fault() -> None:
    clock = ManualClock()
    sampler = ClimateSampler(SimulatedClimateSensor(SimulatedClimate(dead=True), clock), clock)
    run(sampler, clock, 5)
    assert sampler.current() is None
    assert sampler.stats() == ClimateStats(
        reads=5, failures=5, rejected=0, consecutive_failures=5, faulty=True
    )


# ---- the simulated sensor's faults (what the tests above and the demo rely on) ----


def outcomes(sensor: SimulatedClimateSensor, count: int) -> list[ClimateReading | None]:
    """Each read's reading, or None where it failed."""
    results: list[ClimateReading | None] = []
    for _ in range(count):
        try:
            results.append(sensor.read())
        except SensorReadError:
            results.append(None)
    return results


def test_simulated_random_failures_are_deterministic_for_a_seed() -> None:
    climate = SimulatedClimate(fail_rate=0.3)
    first = outcomes(SimulatedClimateSensor(climate, ManualClock(), seed=3), 200)
    again = outcomes(SimulatedClimateSensor(climate, ManualClock(), seed=3), 200)
    other = outcomes(SimulatedClimateSensor(climate, ManualClock(), seed=4), 200)
    assert first == again
    assert [x is None for x in first] != [x is None for x in other]
    assert 40 <= first.count(None) <= 80


def test_simulated_failure_pattern_does_not_depend_on_the_noise_settings() -> None:
    def failed(noise_c: float) -> list[bool]:
        climate = SimulatedClimate(fail_rate=0.5, noise_c=noise_c)
        sensor = SimulatedClimateSensor(climate, ManualClock(), seed=5)
        return [reading is None for reading in outcomes(sensor, 50)]

    assert failed(0.0) == failed(0.3)
    assert any(failed(0.0))


def test_simulated_spikes_and_dead_sensor() -> None:
    climate = SimulatedClimate(daily_swing_c=0.0, noise_c=0.0, spike_every=3, spike_c=64.5)
    temperatures = [
        reading.temperature_c
        for reading in outcomes(SimulatedClimateSensor(climate, ManualClock()), 6)
        if reading is not None
    ]
    assert temperatures == [20.5, 20.5, 85.0, 20.5, 20.5, 85.0]
    dead = SimulatedClimateSensor(SimulatedClimate(dead=True), ManualClock())
    assert outcomes(dead, 3) == [None, None, None]


@pytest.mark.parametrize("kwargs", [{"fail_rate": 1.5}, {"fail_rate": -0.1}, {"spike_every": -1}])
def test_simulated_fault_settings_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SimulatedClimate(**kwargs)
