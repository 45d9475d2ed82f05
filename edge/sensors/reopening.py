"""A sensor that is opened on first use and re-opened after it could not be set up.

Opening a DHT sensor can fail for reasons that pass (the GPIO line still held by a process that
just crashed, a loose connector at boot). Such a failure must become a failed read - counted,
and reported as a sensor fault after a few - rather than stop the daemon, which would also stop
cry detection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from edge.sensors.base import ClimateReading, ClimateSensor, SensorReadError

logger = logging.getLogger(__name__)


class ReopeningSensor:
    def __init__(self, open_sensor: Callable[[], ClimateSensor], description: str) -> None:
        self._open_sensor = open_sensor
        self._description = description
        self._sensor: ClimateSensor | None = None
        self._last_problem: str | None = None

    def read(self) -> ClimateReading:
        if self._sensor is None:
            try:
                self._sensor = self._open_sensor()
            except (RuntimeError, ValueError, OSError) as exc:
                problem = f"cannot open sensor {self._description}: {exc}"
                if problem != self._last_problem:
                    logger.error("%s", problem)
                    self._last_problem = problem
                raise SensorReadError(problem) from exc
            if self._last_problem is not None:
                logger.info("sensor %s opened", self._description)
            self._last_problem = None
        return self._sensor.read()

    def close(self) -> None:
        if self._sensor is not None:
            self._sensor.close()
            self._sensor = None
