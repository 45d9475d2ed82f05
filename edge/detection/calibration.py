"""Calibration arithmetic: the room's noise floor, the detector's background scores, and the
highest ``cry_sensitivity`` that keeps that background safely below the onset threshold.

``edge.detection.sensitivity`` maps a sensitivity to an onset threshold by shifting it in logit
space: ``logit(on) = logit(calibrated_on) + (0.5 - s) * 2 * LOGIT_SPAN``. The proposal inverts
that mapping for the threshold wanted; everything here is pure and works on plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.detection.level import BlockLevelSplitter
from edge.detection.sensitivity import LOGIT_SPAN, hysteresis_for
from models.contract import DeviceSettings
from models.cry import HysteresisParams

# How far (in logits) the loudest background window must stay below the onset threshold. A
# calibration hears seconds of a room that will be listened to for hours: the same noise
# sources recur, some a little louder, and the hysteresis alarms on just 2 hot windows of 3.
# Two logits is a factor of e^2 (about 7) in the model's odds, a third of the slider's swing
# from 0.5 to either end - enough headroom without giving away fainter cries.
MARGIN_LOGITS = 2.0
# Background windows are compared against thresholds in logit space; scores of exactly 0 or 1
# (int8 model outputs saturate) are clamped like sensitivity.py clamps them.
_EPSILON = 1e-6
# Proposals are shown and configured with two decimals.
_STEP = 0.01


def percentile(values: Sequence[float] | npt.NDArray[np.float64], q: float) -> float:
    """The ``q``-th percentile (0..100), interpolating linearly between the closest ranks."""
    if len(values) == 0:
        raise ValueError("percentile of no values")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def logit(p: float) -> float:
    p = min(max(p, _EPSILON), 1.0 - _EPSILON)
    return math.log(p / (1.0 - p))


class BlockLevels:
    """RMS level in dBFS of every complete ``block_s`` block of a stream fed in any chunk sizes,
    all kept (a calibration listens for seconds, not hours)."""

    def __init__(self, sample_rate: int, block_s: float = 0.1) -> None:
        self._splitter = BlockLevelSplitter(sample_rate, block_s)
        self.block = self._splitter.block
        self.levels: list[float] = []

    def add(self, samples: npt.NDArray[np.float32]) -> None:
        self.levels.extend(self._splitter.add(samples))


@dataclass(frozen=True, slots=True)
class NoiseFloor:
    floor_dbfs: float  # 10th percentile: the room between sounds
    median_dbfs: float
    max_dbfs: float
    blocks: int


def noise_floor(levels: Sequence[float]) -> NoiseFloor:
    return NoiseFloor(percentile(levels, 10), percentile(levels, 50), max(levels), len(levels))


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    windows: int
    p50: float
    p95: float
    p99: float
    max: float


def summarise_scores(scores: Sequence[float]) -> ScoreSummary:
    return ScoreSummary(
        len(scores),
        percentile(scores, 50),
        percentile(scores, 95),
        percentile(scores, 99),
        max(scores),
    )


def windows_reaching(scores: Sequence[float], on_threshold: float) -> int:
    """Windows that reached ``on_threshold``: what the hysteresis counts as hot."""
    return sum(score >= on_threshold for score in scores)


def on_threshold_for(calibrated: HysteresisParams, sensitivity: float) -> float:
    """The onset threshold the daemon uses at ``sensitivity`` (the real mapping, not a copy)."""
    settings = DeviceSettings(cry_sensitivity=sensitivity)
    return hysteresis_for(calibrated, settings).on_threshold


def sensitivity_for_threshold(calibrated_on: float, on_threshold: float) -> float:
    """The sensitivity whose onset threshold is ``on_threshold``; unclamped, may leave 0..1."""
    return 0.5 - (logit(on_threshold) - logit(calibrated_on)) / (2.0 * LOGIT_SPAN)


@dataclass(frozen=True, slots=True)
class Proposal:
    sensitivity: float  # within 0..1, rounded down to 0.01
    unclamped: float  # what the margin alone asks for
    on_threshold: float  # the onset threshold at ``sensitivity``
    # How far the loudest background window stays below that threshold, in logits; below
    # MARGIN_LOGITS when even sensitivity 0 cannot give the full margin.
    margin_logits: float
    crosses_at_zero: bool  # the background reaches the threshold even at sensitivity 0

    @property
    def too_noisy(self) -> bool:
        """No sensitivity keeps the full margin: the device should move away from the noise."""
        return self.unclamped < 0.0


def propose(
    scores: Sequence[float], calibrated: HysteresisParams, margin_logits: float = MARGIN_LOGITS
) -> Proposal:
    """The highest sensitivity whose threshold is ``margin_logits`` above the loudest window.

    The maximum, not a percentile: an onset needs only a couple of hot windows, so in a sample
    this short any window that comes close is a noise that will come close again.
    """
    loudest = logit(max(scores))
    wanted_on = _sigmoid(loudest + margin_logits)
    unclamped = sensitivity_for_threshold(calibrated.on_threshold, wanted_on)
    # Rounded down, so showing two decimals never eats into the margin.
    # (The 1e-9 keeps 0.29 from flooring to 0.28 through binary rounding.)
    steps = math.floor(unclamped / _STEP + 1e-9)
    sensitivity = min(1.0, max(0.0, round(steps * _STEP, 2)))
    on_threshold = on_threshold_for(calibrated, sensitivity)
    return Proposal(
        sensitivity=sensitivity,
        unclamped=unclamped,
        on_threshold=on_threshold,
        margin_logits=logit(on_threshold) - loudest,
        crosses_at_zero=max(scores) >= on_threshold_for(calibrated, 0.0),
    )


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
