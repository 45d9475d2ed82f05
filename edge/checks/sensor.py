"""The climate sensor check: a few real reads through the daemon's own sensor and sampler."""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.assembly import build_sensor
from edge.checks.logs import last_problem
from edge.checks.result import CheckResult, Outcome
from edge.config import AgentConfig

NAME = "sensor"
# A DHT22 read fails routinely (the first one after opening often does), so one miss proves
# nothing; three attempts keep the check short (about 4 s in the worst case).
ATTEMPTS = 3
# The sampler refuses reads closer than 2 s apart (a DHT22 would return its cached value);
# waiting a little longer makes sure every attempt is a real read.
READ_GAP_S = 2.1


def check_sensor(
    config: AgentConfig,
    *,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], object] = time.sleep,
) -> CheckResult:
    section = config.sensor
    sampler = build_sensor(config)
    if sampler is None:
        return CheckResult(NAME, Outcome.SKIP, 'sensor.kind = "none"')
    where = (
        "simulated sensor" if section.kind == "simulated" else f"{section.kind} on {section.pin}"
    )
    # The sampler swallows read errors by design (a flaky sensor must never stop the daemon)
    # and only logs them; the installer needs the last one to know which fix applies.
    with last_problem("edge.sensors") as problem:
        try:
            for attempt in range(1, attempts + 1):
                if attempt > 1:
                    sleep(READ_GAP_S)
                sampler.sample()
                reading = sampler.current()
                if reading is not None:
                    return CheckResult(
                        NAME,
                        Outcome.PASS,
                        f"{where}: {reading.temperature_c:.1f} °C, "
                        f"{reading.humidity_pct:.1f} % RH (read {attempt} of {attempts})",
                    )
        finally:
            sampler.close()
    stats = sampler.stats()
    detail = (
        f"{where}: no good reading in {attempts} attempt(s) "
        f"({stats.failures} failed, {stats.rejected} implausible)"
    )
    if problem.message:
        detail += f"; last: {problem.message}"
    return CheckResult(NAME, Outcome.FAIL, detail, _fix(section.pin))


def _fix(pin: str) -> str:
    return "\n".join(
        [
            f"check the wiring: the data line on the board pin named by sensor.pin (now {pin!r};"
            ' GPIO4 = physical pin 7 = "D4"), power on 3.3 V, ground on GND;',
            "a 4.7-10 kOhm pull-up resistor between data and 3.3 V (bare 4-pin DHT22s need one,"
            " 3-pin modules have it on board);",
            "install the hardware libraries on the Pi: pip install 'nursery[pi]' (the pi extra);",
            "stop a running agent first (sudo systemctl stop nursery-edge): only one process can"
            " use the sensor's GPIO line",
        ]
    )
