"""Choosing the onset rule (k of n windows, minimum length) on a synthesized validation night.

The clip threshold comes from clip-level F1; how many hot windows make an episode is an
event-level question, so it is answered on a night built from the validation split only. The
window scores are computed once; each candidate rule replays them through ``EpisodeTracker``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from models.cry.detector import CryDetector
from models.cry.episodes import CryEvent, EpisodeTracker, HysteresisParams, WindowScore
from models.training.night import Night
from models.training.night_eval import NightMetrics, score_night, stream_events

# (onset_k, onset_n) pairs over 0.1 s windows and minimum candidate lengths in seconds.
CANDIDATE_K_OF_N: tuple[tuple[int, int], ...] = ((2, 3), (3, 4), (3, 5), (4, 6), (5, 8))
CANDIDATE_MIN_DURATIONS_S: tuple[float, ...] = (0.3, 0.5, 0.8)
MIN_EPISODE_RECALL = 0.95


@dataclass(frozen=True)
class OnsetChoice:
    hysteresis: HysteresisParams
    metrics: NightMetrics


def replay(
    scores: Sequence[WindowScore], params: HysteresisParams, stream_end_s: float
) -> list[CryEvent]:
    """The events ``EpisodeTracker`` gives for these window scores (the daemon's logic)."""
    tracker = EpisodeTracker(params)
    events: list[CryEvent] = []
    for window in scores:
        events += tracker.update(window)
    return events + tracker.finish(stream_end_s)


def _rank(metrics: NightMetrics) -> tuple[bool, int, float, float]:
    """Enough recall first, then fewest false alerts, then fastest onset, then more recall."""
    latency = metrics.median_onset_latency_s
    return (
        metrics.episode_recall < MIN_EPISODE_RECALL,
        metrics.false_alerts,
        latency if latency is not None else float("inf"),
        -metrics.episode_recall,
    )


def choose_onset_rule(
    night: Night, scores: Sequence[WindowScore], base: HysteresisParams, seed: int
) -> OnsetChoice:
    """The candidate rule that ranks best on ``night`` (thresholds stay as in ``base``)."""
    stream_end_s = len(night.audio) / night.sample_rate
    best: OnsetChoice | None = None
    for k, n in CANDIDATE_K_OF_N:
        for min_duration_s in CANDIDATE_MIN_DURATIONS_S:
            params = replace(base, onset_k=k, onset_n=n, min_duration_s=min_duration_s)
            metrics = score_night(night, replay(scores, params, stream_end_s), seed, "validation")
            if best is None or _rank(metrics) < _rank(best.metrics):
                best = OnsetChoice(params, metrics)
    assert best is not None
    return best


def choose_onset_rule_for(detector: CryDetector, night: Night, seed: int) -> OnsetChoice:
    """Stream ``night`` through ``detector`` once, then rank the candidate rules on its window
    scores (its thresholds stay); the detector's own ``on_window`` is restored after."""
    scores: list[WindowScore] = []
    previous = detector.on_window
    detector.on_window = scores.append
    try:
        stream_events(detector, night)
    finally:
        detector.on_window = previous
    return choose_onset_rule(night, scores, detector.hysteresis, seed)
