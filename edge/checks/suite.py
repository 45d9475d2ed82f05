"""The device checks in the order an installer fixes things: hardware first, then the network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from edge.checks.audio import check_microphone
from edge.checks.broker import check_broker
from edge.checks.clock import check_clock
from edge.checks.config import check_config
from edge.checks.model import check_model
from edge.checks.result import CheckResult, Outcome
from edge.checks.sensor import check_sensor

CONFIG_DEPENDENT = ("sensor", "microphone", "model", "broker")


def run_checks(config_path: Path, audio_seconds: float) -> Iterator[CheckResult]:
    """Each result as soon as its check has finished, so a slow one shows where it is."""
    result, config = check_config(config_path)
    yield result
    if config is None:
        for name in CONFIG_DEPENDENT:
            yield CheckResult(name, Outcome.SKIP, "needs a valid config")
    else:
        yield check_sensor(config)
        yield check_microphone(config, audio_seconds)
        yield check_model(config)
        yield check_broker(config)
    # The clock needs no config; worth knowing even while the config is being fixed.
    yield check_clock()
