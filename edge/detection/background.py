"""Listen to a quiet room through the daemon's detector and keep what calibration needs.

The audio goes through the very ``CryDetector`` the daemon builds (same features, model and
windowing), with the hysteresis of the current settings, so the scores and the alarms counted
here are what the device would have produced over the same seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.audio.base import AudioSource, FloatArray
from edge.audio.capture import capture
from edge.detection.calibration import BlockLevels
from models.cry import CryDetector, HysteresisParams, WindowScore


@dataclass(frozen=True, slots=True)
class Background:
    seconds: float  # audio heard; less than asked when the source ran out
    levels_dbfs: list[float]  # one per 100 ms block
    scores: list[float]  # one per detector window
    alarms: int  # cry episodes the given hysteresis would have started


def record_background(
    source: AudioSource,
    detector: CryDetector,
    hysteresis: HysteresisParams,
    seconds: float,
    progress: Callable[[float], None] | None = None,
) -> Background:
    """Read ``seconds`` from a started ``source``; ``detector`` is reset and retuned to
    ``hysteresis`` first, and its window callback is borrowed for the duration."""
    levels = BlockLevels(source.sample_rate)
    scores: list[float] = []
    alarms = 0

    def on_window(window: WindowScore) -> None:
        scores.append(window.score)

    def consume(samples: FloatArray) -> None:
        nonlocal alarms
        levels.add(samples)
        alarms += sum(event.kind == "cry_started" for event in detector.feed(samples))

    detector.reset()
    detector.set_hysteresis(hysteresis)
    previous, detector.on_window = detector.on_window, on_window
    try:
        heard_s = capture(source, seconds, consume, progress=progress)
    finally:
        detector.on_window = previous
    return Background(heard_s, levels.levels, scores, alarms)
