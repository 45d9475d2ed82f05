"""Synthesized household sounds: the non-cries the corpus barely has."""

from __future__ import annotations

import numpy as np
import pytest

from models.training.household import HOUSEHOLD, household_sound

RATE = 16_000


def centroid_hz(signal: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(signal)) ** 2
    return float(np.sum(power * np.fft.rfftfreq(len(signal), 1.0 / RATE)) / np.sum(power))


@pytest.mark.parametrize("kind", sorted(HOUSEHOLD))
@pytest.mark.parametrize("seconds", [1.5, 4.0])
def test_every_kind_has_the_length_unit_rms_and_is_seeded(kind: str, seconds: float) -> None:
    for seed in range(3):
        sound = household_sound(kind, seconds, RATE, np.random.default_rng(seed))
        assert sound.dtype == np.float32
        assert sound.shape == (int(seconds * RATE),)
        assert np.all(np.isfinite(sound))
        assert abs(float(np.sqrt(np.mean(np.square(sound, dtype=np.float64)))) - 1.0) < 1e-3
        again = household_sound(kind, seconds, RATE, np.random.default_rng(seed))
        np.testing.assert_array_equal(sound, again)
    other = household_sound(kind, seconds, RATE, np.random.default_rng(99))
    assert not np.array_equal(other, household_sound(kind, seconds, RATE, np.random.default_rng(0)))


def test_kinds_sound_different() -> None:
    centroids = {
        kind: float(
            np.median(
                [
                    centroid_hz(household_sound(kind, 2.0, RATE, np.random.default_rng(s)))
                    for s in range(4)
                ]
            )
        )
        for kind in HOUSEHOLD
    }
    # Keys jingle high, claps are broadband, coughs are mid, steps and doors are low thumps.
    assert centroids["keys"] > 4000.0
    assert 2000.0 < centroids["claps"] < centroids["keys"]
    assert centroids["footsteps"] < 700.0
    assert centroids["door"] < 700.0
    assert centroids["footsteps"] < centroids["cough"] < centroids["claps"]


def test_bursts_leave_silence_and_music_does_not() -> None:
    def silent_share(kind: str) -> float:
        sound = household_sound(kind, 3.0, RATE, np.random.default_rng(5))
        return float(np.mean(np.abs(sound) < 1e-6))

    assert silent_share("claps") > 0.5
    assert silent_share("footsteps") > 0.5
    assert silent_share("music") < 0.01


def test_an_alarm_is_a_tone_and_claps_are_not() -> None:
    def peakiness(kind: str) -> float:
        spectrum = np.abs(np.fft.rfft(household_sound(kind, 2.0, RATE, np.random.default_rng(7))))
        return float(spectrum.max() / np.mean(spectrum))

    assert peakiness("alarm") > 10 * peakiness("claps")
