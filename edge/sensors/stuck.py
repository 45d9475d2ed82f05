"""A sensor that answers but no longer measures: the same reading, bit for bit, for hours.

A DHT22 that has hung (or a driver that keeps returning its cache) passes every check the
sampler makes - the reads succeed and the values are plausible - so failures alone never show
it. A working one cannot do this: its readings jitter by a tenth of a degree or of a percent
within minutes, even in a still room. Temperature *and* humidity must both repeat: a steady
humidity beside a moving temperature is a calm room, not a broken sensor.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.sensors.base import ClimateReading


@dataclass(frozen=True, slots=True)
class StuckReading:
    reading: ClimateReading
    for_s: float  # from the first to the latest read of this exact value


class StuckDetector:
    """Fed every good reading with its time; says when one value has repeated too long.

    ``fresh_s``: once the sensor has given no good reading for this long, it is failing rather
    than stuck (the sampler reports that), so "stuck" is no longer claimed.
    """

    def __init__(self, stuck_after_s: float, fresh_s: float) -> None:
        if stuck_after_s <= 0 or fresh_s <= 0:
            raise ValueError(
                f"need stuck_after_s > 0 and fresh_s > 0, got {stuck_after_s} and {fresh_s}"
            )
        self._stuck_after_s = stuck_after_s
        self._fresh_s = fresh_s
        self._value: ClimateReading | None = None
        self._since = 0.0
        self._last = 0.0

    def observe(self, reading: ClimateReading, now: float) -> None:
        # Exact float equality on purpose: a sensor that measures changes the last digit.
        if reading != self._value:
            self._value, self._since = reading, now
        self._last = now

    def stuck(self, now: float) -> StuckReading | None:
        if self._value is None or now - self._last > self._fresh_s:
            return None
        repeated_for = self._last - self._since
        if repeated_for < self._stuck_after_s:
            return None
        return StuckReading(self._value, repeated_for)
