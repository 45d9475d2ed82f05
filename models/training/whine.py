"""Steady electrical whines: a tone and a few harmonics that never stop or move (pure numpy).

Fridges, chargers, humidifiers and TV sets whine, sometimes at a baby's pitch: one of the
corpus's home recordings holds a 585 Hz whine with its octave, and a model trained without
whines scored a quiet room with such a tone as crying. Training mixes random whines into cries
and non-cries alike (``AugmentParams.whine_probability``), so a whine carries no label; the
robustness check (``models.training.robustness``) uses a fixed grid of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from models.training.noise import unit_rms

FloatArray = npt.NDArray[np.float32]
HIGHEST_PARTIAL_HZ = 3_900.0  # nothing above the front end's band matters
WHINE_HZ = (100.0, 1_500.0)
WHINE_PARTIALS = (1, 4)
DRIFT = 0.002  # a mains-locked or crystal-driven tone barely moves


def steady_whine(
    n: int,
    rate: int,
    pitch_hz: float,
    partials: Sequence[tuple[float, float]],
    drift_hz: float = 0.0,
) -> FloatArray:
    """Partials k * pitch, ``partials[k - 1]`` = (gain, phase), drifting by 0.2 % at drift_hz."""
    drift = 1.0 + DRIFT * np.sin(2 * np.pi * drift_hz * np.arange(n) / rate)
    phase = 2 * np.pi * np.cumsum(np.full(n, pitch_hz) * drift) / rate
    tone = np.zeros(n)
    for k, (gain, offset) in enumerate(partials, start=1):
        tone += gain * np.sin(k * phase + offset)
    return unit_rms(tone)


def appliance_whine(n: int, rate: int, rng: np.random.Generator) -> FloatArray:
    """A random whine for training: 100-1500 Hz, one to four partials of random strength."""
    pitch = rng.uniform(*WHINE_HZ)
    drift_hz = rng.uniform(0.05, 0.3)
    count = int(rng.integers(WHINE_PARTIALS[0], WHINE_PARTIALS[1] + 1))
    partials = [
        (rng.uniform(0.2, 1.0), rng.uniform(0, 2 * np.pi))
        for k in range(1, count + 1)
        if k * pitch < HIGHEST_PARTIAL_HZ
    ]
    return steady_whine(n, rate, pitch, partials, drift_hz)
