"""The steady-tone robustness check: its rooms, its whines and how it counts false alerts."""

from __future__ import annotations

import numpy as np
import pytest

from models.cry.detector import CryDetector, WindowScorer
from models.cry.episodes import HysteresisParams
from models.cry.features import LogMelParams, WindowParams
from models.training.robustness import (
    ROOM_LEVEL,
    WHINE_PITCHES_HZ,
    format_robustness,
    room_case,
    steady_tone_report,
)

RATE = 16_000


class TonalityScorer:
    """Scores a window by how far its loudest mel band stands out: high for a steady tone.

    A stand-in for the model that reacts to exactly what the check is about, so the counting
    can be tested without TensorFlow Lite; the shipped model is checked in the integration tier.
    """

    def score(self, window: np.ndarray) -> float:
        band_means = window.mean(axis=0)
        return float(np.clip((band_means.max() - np.median(band_means)) * 4.0, 0.0, 1.0))


def detector(scorer: WindowScorer) -> CryDetector:
    return CryDetector(scorer, LogMelParams(), WindowParams(), HysteresisParams())


def test_a_case_is_a_quiet_room_and_the_whine_sits_at_its_pitch() -> None:
    room = room_case(585.0, None, 0, RATE, 2.0)
    whining = room_case(585.0, 10.0, 0, RATE, 2.0)
    np.testing.assert_array_equal(room, room_case(585.0, None, 0, RATE, 2.0))
    rms = float(np.sqrt(np.mean(np.square(room, dtype=np.float64))))
    assert rms == pytest.approx(ROOM_LEVEL, rel=0.01)
    spectrum = np.abs(np.fft.rfft(whining))  # 0.5 Hz bins
    assert abs(np.argmax(spectrum) / 2.0 - 585.0) < 2.0


def test_every_room_with_a_loud_whine_alerts_a_tone_sensitive_model() -> None:
    report = steady_tone_report(
        detector(TonalityScorer()), levels=(None, 10.0), rooms_per_pitch=1, seconds=6.0
    )
    alone, whining = report.levels
    assert alone.cases == whining.cases == len(WHINE_PITCHES_HZ)
    assert whining.rooms_alerted == whining.cases
    assert alone.rooms_alerted < whining.rooms_alerted  # some rooms hum or have a fan tone
    assert whining.false_alerts_per_hour == pytest.approx(
        whining.cases / (whining.cases * 6.0 / 3600.0), rel=0.01
    )
    assert "+10 dB" in format_robustness(report)


class SilentScorer:
    def score(self, window: np.ndarray) -> float:
        del window
        return 0.0


def test_a_model_that_never_fires_has_no_false_alerts() -> None:
    report = steady_tone_report(detector(SilentScorer()), rooms_per_pitch=1, seconds=3.0)
    assert all(level.rooms_alerted == 0 for level in report.levels)
    assert [level.level_db for level in report.levels] == [None, -20.0, -10.0, 0.0, 10.0]
