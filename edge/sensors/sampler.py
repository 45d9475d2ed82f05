"""The reliability layer between a ``ClimateSensor`` and the daemon.

A DHT22 misses reads routinely and, now and then, returns a value no room can have. The daemon
wants neither to crash nor to publish garbage, so the sampler:

- reads at most every ``min_interval_s`` (a DHT22 needs 2 s between reads; faster reads return
  the previous measurement again),
- rejects readings outside the sensor's range and readings that jump further from the current
  median than a room can change between two reads (``max_jump_c``, ``max_jump_pct``),
- accepts a *genuine* step change (heater on, window open, sensor moved) once ``confirm_after``
  consecutive jump-rejected readings agree with each other: the window is then re-seeded with them,
- reports the median of the last ``window`` good readings, or ``None`` once no good reading has
  arrived for ``max_age_s`` (telemetry then omits the field instead of repeating an old value),
- counts reads, failures and rejections, and flags the sensor ``faulty`` after ``fault_after``
  consecutive bad reads until the next good one,
- flags it ``stuck`` when its good readings have repeated one value, bit for bit, for
  ``stuck_after_s`` (``edge.sensors.stuck``): a hung sensor reads fine and plausibly forever,
- catches every exception from the sensor: a broken driver is a sensor fault, never a daemon crash.

Threads: ``sample()`` runs on the sensor thread; ``current()`` and ``stats()`` on others. The sensor
read itself happens outside the state lock so readers never wait for the hardware.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from edge.sensors.base import ClimateReading, ClimateSensor, SensorReadError
from edge.sensors.stuck import StuckDetector, StuckReading

logger = logging.getLogger(__name__)

# close() waits this long for an in-flight read (a DHT read takes well under a second).
_CLOSE_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class SensorRange:
    """What the sensor can measure at all, from its datasheet; anything outside is a bad read."""

    min_temperature_c: float
    max_temperature_c: float
    min_humidity_pct: float
    max_humidity_pct: float

    DHT22: ClassVar[SensorRange]
    DHT11: ClassVar[SensorRange]

    def contains(self, reading: ClimateReading) -> bool:
        # Written as chained comparisons so NaN (which compares False) is rejected too.
        return (
            self.min_temperature_c <= reading.temperature_c <= self.max_temperature_c
            and self.min_humidity_pct <= reading.humidity_pct <= self.max_humidity_pct
        )


SensorRange.DHT22 = SensorRange(-40.0, 80.0, 0.0, 100.0)
SensorRange.DHT11 = SensorRange(0.0, 50.0, 20.0, 90.0)


@dataclass(frozen=True, slots=True)
class ClimateStats:
    """Counters since start. ``reads == good reads + failures + rejected``."""

    reads: int
    failures: int
    rejected: int
    consecutive_failures: int
    faulty: bool
    # Set while the good readings have been one identical value for ``stuck_after_s``.
    stuck: StuckReading | None = None


class ClimateSampler:
    """Filters and smooths a ``ClimateSensor``; see the module docstring for the rules."""

    def __init__(
        self,
        sensor: ClimateSensor,
        clock: Callable[[], float],
        *,
        range_: SensorRange = SensorRange.DHT22,
        min_interval_s: float = 2.0,
        window: int = 5,
        max_jump_c: float = 5.0,
        max_jump_pct: float = 20.0,
        confirm_after: int = 3,
        fault_after: int = 5,
        max_age_s: float = 120.0,
        stuck_after_s: float = 7200.0,
    ) -> None:
        _require(min_interval_s > 0, f"min_interval_s must be > 0, got {min_interval_s}")
        _require(window >= 1, f"window must be >= 1, got {window}")
        _require(max_jump_c > 0, f"max_jump_c must be > 0, got {max_jump_c}")
        _require(max_jump_pct > 0, f"max_jump_pct must be > 0, got {max_jump_pct}")
        # 1 would accept every jump at once, i.e. switch the jump filter off.
        _require(confirm_after >= 2, f"confirm_after must be >= 2, got {confirm_after}")
        _require(fault_after >= 1, f"fault_after must be >= 1, got {fault_after}")
        _require(max_age_s > 0, f"max_age_s must be > 0, got {max_age_s}")
        _require(stuck_after_s > 0, f"stuck_after_s must be > 0, got {stuck_after_s}")
        self._sensor = sensor
        self._clock = clock
        self._range = range_
        self._min_interval_s = min_interval_s
        self._max_jump_c = max_jump_c
        self._max_jump_pct = max_jump_pct
        self._confirm_after = confirm_after
        self._fault_after = fault_after
        self._max_age_s = max_age_s

        # Held for a whole sample() (including the slow hardware read) and by close(), so reads
        # never overlap and the device is not closed under a read.
        self._read_lock = threading.Lock()
        self._last_attempt_at: float | None = None  # under _read_lock
        self._closed = False  # under _read_lock
        # Guards everything below; held only for quick bookkeeping, never during a read.
        self._state_lock = threading.Lock()
        self._good: deque[ClimateReading] = deque(maxlen=window)
        # Consecutive readings rejected as a jump that agree with each other: a possible real step.
        self._candidates: list[ClimateReading] = []
        self._last_good_at: float | None = None
        self._reads = 0
        self._failures = 0
        self._rejected = 0
        self._consecutive_bad = 0
        self._unexpected_logged = False
        # Judged on good readings only; "no good readings" is the ``faulty`` flag's business.
        self._stuck = StuckDetector(stuck_after_s, fresh_s=max_age_s)
        self._stuck_logged = False

    def sample(self) -> None:
        """Read the sensor once, unless the minimum interval since the last read has not passed."""
        with self._read_lock:
            if self._closed:
                return
            now = self._clock()
            if (
                self._last_attempt_at is not None
                and now - self._last_attempt_at < self._min_interval_s
            ):
                return
            self._last_attempt_at = now
            try:
                reading = self._sensor.read()
            except SensorReadError as exc:
                logger.debug("climate read failed: %s", exc)
                self._record_failure()
            except Exception:
                self._record_unexpected_failure()
            else:
                self._record_reading(reading, now)

    def current(self) -> ClimateReading | None:
        """The median of recent good readings, or ``None`` if there is none younger than
        ``max_age_s``."""
        with self._state_lock:
            if self._last_good_at is None or not self._good:
                return None
            if self._clock() - self._last_good_at > self._max_age_s:
                return None
            return _median(self._good)

    def stats(self) -> ClimateStats:
        with self._state_lock:
            return ClimateStats(
                reads=self._reads,
                failures=self._failures,
                rejected=self._rejected,
                consecutive_failures=self._consecutive_bad,
                faulty=self._consecutive_bad >= self._fault_after,
                stuck=self._stuck.stuck(self._clock()),
            )

    def close(self) -> None:
        """Close the sensor once; later ``sample()`` calls do nothing. Never raises."""
        acquired = self._read_lock.acquire(timeout=_CLOSE_WAIT_S)
        try:
            if not acquired:
                logger.warning(
                    "climate sensor read still running after %.0f s; closing anyway", _CLOSE_WAIT_S
                )
            if self._closed:
                return
            self._closed = True
            try:
                self._sensor.close()
            except Exception:
                logger.exception("closing the climate sensor failed")
        finally:
            if acquired:
                self._read_lock.release()

    # ---- bookkeeping (called from sample() only) ----

    def _record_failure(self) -> None:
        with self._state_lock:
            self._reads += 1
            self._failures += 1
            self._note_bad_locked()

    def _record_unexpected_failure(self) -> None:
        # A driver bug or a dead GPIO helper: log the traceback once per streak of bad reads,
        # not every couple of seconds, and carry on like any other failed read.
        with self._state_lock:
            first_of_streak = not self._unexpected_logged
            self._unexpected_logged = True
        if first_of_streak:
            logger.exception("unexpected error from the climate sensor; counting it as a failure")
        else:
            logger.debug("unexpected error from the climate sensor again", exc_info=True)
        self._record_failure()

    def _record_reading(self, reading: ClimateReading, now: float) -> None:
        with self._state_lock:
            self._reads += 1
            if not self._range.contains(reading):
                logger.debug("climate reading out of the sensor's range: %s", reading)
                self._reject_locked()
                return
            if self._last_good_at is not None and now - self._last_good_at > self._max_age_s:
                # After a long outage the old median says nothing about the room any more:
                # start afresh instead of measuring jumps against it.
                self._good.clear()
                self._candidates.clear()
            if self._good and self._is_jump(_median(self._good), reading):
                if not self._confirms_step(reading):
                    logger.debug("climate reading jumps too far from the median: %s", reading)
                    self._reject_locked()
                    return
                logger.info(
                    "climate step change confirmed by %d agreeing readings; now %s",
                    len(self._candidates),
                    reading,
                )
                self._good.clear()
                self._good.extend(self._candidates)
            else:
                self._good.append(reading)
            self._candidates.clear()
            self._accept_locked(now)
            self._observe_locked(reading, now)

    def _confirms_step(self, reading: ClimateReading) -> bool:
        """Add ``reading`` to the step candidates; True once enough of them agree."""
        if self._candidates and self._is_jump(_median(self._candidates), reading):
            # Disagrees with the earlier outliers: those were noise, this may start a new run.
            self._candidates.clear()
        self._candidates.append(reading)
        return len(self._candidates) >= self._confirm_after

    def _is_jump(self, reference: ClimateReading, reading: ClimateReading) -> bool:
        return (
            abs(reading.temperature_c - reference.temperature_c) > self._max_jump_c
            or abs(reading.humidity_pct - reference.humidity_pct) > self._max_jump_pct
        )

    def _accept_locked(self, now: float) -> None:
        if self._consecutive_bad >= self._fault_after:
            logger.info("climate sensor recovered after %d bad reads", self._consecutive_bad)
        self._last_good_at = now
        self._consecutive_bad = 0
        self._unexpected_logged = False

    def _observe_locked(self, reading: ClimateReading, now: float) -> None:
        self._stuck.observe(reading, now)
        stuck = self._stuck.stuck(now)
        if stuck is not None and not self._stuck_logged:
            logger.warning(
                "climate sensor stuck: every good read for %.0f s has been %s",
                stuck.for_s,
                stuck.reading,
            )
        elif stuck is None and self._stuck_logged:
            logger.info("climate sensor no longer stuck: now %s", reading)
        self._stuck_logged = stuck is not None

    def _reject_locked(self) -> None:
        self._rejected += 1
        self._note_bad_locked()

    def _note_bad_locked(self) -> None:
        self._consecutive_bad += 1
        if self._consecutive_bad == self._fault_after:
            logger.warning(
                "climate sensor faulty: %d consecutive reads failed or were implausible",
                self._consecutive_bad,
            )


def _median(readings: Sequence[ClimateReading]) -> ClimateReading:
    # Temperature and humidity separately: each median ignores the other's outliers.
    return ClimateReading(
        statistics.median(r.temperature_c for r in readings),
        statistics.median(r.humidity_pct for r in readings),
    )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
