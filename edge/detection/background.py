"""Listen to a quiet room through the daemon's detector and keep what calibration needs.

The audio goes through the very ``CryDetector`` the daemon builds (same features, model and
windowing), with the hysteresis of the current settings, so the scores and the alarms counted
here are what the device would have produced over the same seconds. Alongside, the windows
go through a second tracker at the model's own calibrated threshold: crying in what should be the
background (the baby woke up) would make any sensitivity fitted to it near-deaf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edge.audio.base import AudioSource, FloatArray
from edge.audio.capture import capture
from edge.detection.calibration import BlockLevels
from models.cry import CryDetector, EpisodeTracker, HysteresisParams, WindowScore


@dataclass(frozen=True, slots=True)
class Background:
    seconds: float  # audio heard; less than asked when the source ran out
    levels_dbfs: list[float]  # one per 100 ms block
    scores: list[float]  # one per detector window
    alarms: int  # cry episodes the given hysteresis would have started
    # Where (seconds into the recording) the model, at its calibrated threshold, heard a cry
    # start: empty for a background fit to calibrate on.
    cries_at_s: list[float] = field(default_factory=list)


def record_background(
    source: AudioSource,
    detector: CryDetector,
    hysteresis: HysteresisParams,
    seconds: float,
    progress: Callable[[float], None] | None = None,
    *,
    calibrated: HysteresisParams | None = None,
) -> Background:
    """Read ``seconds`` from a started ``source``; ``detector`` is reset and retuned to
    ``hysteresis`` first, and its window callback is borrowed for the duration. ``calibrated``
    is the model's own operating point, where crying is looked for (default: the detector's
    hysteresis as passed in, which is the manifest's for a detector fresh from it)."""
    levels = BlockLevels(source.sample_rate)
    scores: list[float] = []
    alarms = 0
    cry_check = EpisodeTracker(calibrated or detector.hysteresis)
    cries_at_s: list[float] = []

    def on_window(window: WindowScore) -> None:
        scores.append(window.score)
        cries_at_s.extend(e.t for e in cry_check.update(window) if e.kind == "cry_started")

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
    return Background(heard_s, levels.levels, scores, alarms, cries_at_s)
