"""Steady whines and baby-pitched voices in the training augmentation."""

from __future__ import annotations

import numpy as np

from models.training.augment import AugmentParams, augment, speed_factor
from models.training.whine import WHINE_HZ, appliance_whine, steady_whine

RATE = 16_000


def dominant_hz(frame: np.ndarray, n_fft: int = 8_000) -> float:
    spectrum = np.abs(np.fft.rfft(frame * np.hanning(len(frame)), n=max(n_fft, len(frame))))
    return float(np.argmax(spectrum)) * RATE / max(n_fft, len(frame))


def test_a_whine_is_seeded_continuous_and_holds_its_pitch() -> None:
    for seed in range(5):
        audio = appliance_whine(3 * RATE, RATE, np.random.default_rng(seed))
        np.testing.assert_array_equal(
            audio, appliance_whine(3 * RATE, RATE, np.random.default_rng(seed))
        )
        assert np.isclose(np.sqrt(np.mean(np.square(audio, dtype=np.float64))), 1.0, atol=1e-3)
        frames = audio.reshape(-1, 1600)  # 100 ms
        level = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
        assert level.min() > 0.5 * level.max()  # never stops
        pitches = np.array([dominant_hz(f) for f in frames])
        assert np.ptp(pitches) / np.median(pitches) < 0.02  # never moves
        assert WHINE_HZ[0] * 0.98 <= pitches.min()


def test_a_steady_whine_has_its_partials_where_asked() -> None:
    audio = steady_whine(RATE, RATE, 585.0, [(1.0, 0.0), (0.5, 1.0)])
    spectrum = np.abs(np.fft.rfft(audio))  # 1 Hz bins
    assert int(np.argmax(spectrum)) == 585
    assert spectrum[1170] > 0.4 * spectrum[585]
    assert spectrum[1755] < 0.01 * spectrum[585]  # no third partial


def test_augmentation_adds_a_whine_only_when_asked() -> None:
    noise = np.random.default_rng(9).standard_normal(2 * RATE).astype(np.float32) * 0.05
    backgrounds = [np.random.default_rng(10).standard_normal(2 * RATE).astype(np.float32)]

    def peakiness(whine_probability: float) -> float:
        params = AugmentParams(
            clean_probability=0.0,
            real_background_probability=1.0,
            whine_probability=whine_probability,
            whine_snr_db_range=(0.0, 0.0),
        )
        mixed = augment(noise, RATE, backgrounds, params, np.random.default_rng(11))
        spectrum = np.abs(np.fft.rfft(mixed))
        return float(spectrum.max() / np.median(spectrum))

    assert peakiness(0.0) < 6.0  # noise only: no bin far over the median
    assert peakiness(1.0) > 30.0  # a steady tone concentrates in a few bins


def test_only_non_cries_are_raised_to_a_babys_pitch() -> None:
    params = AugmentParams(high_voice_probability=1.0)
    rng = np.random.default_rng(0)
    cries = [speed_factor(True, params, rng) for _ in range(200)]
    others = [speed_factor(False, params, rng) for _ in range(200)]
    assert params.speed_range[0] <= min(cries)
    assert max(cries) <= params.speed_range[1]
    assert params.high_voice_speed_range[0] <= min(others)
    assert max(others) <= params.high_voice_speed_range[1]


def test_without_the_new_options_the_random_stream_is_the_earlier_one() -> None:
    params = AugmentParams(whine_probability=0.0, high_voice_probability=0.0)
    first, second = np.random.default_rng(3), np.random.default_rng(3)
    assert speed_factor(False, params, first) == float(second.uniform(*params.speed_range))
    assert first.random() == second.random()
