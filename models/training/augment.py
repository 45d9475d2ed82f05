"""Training-time augmentation: background mixing at several SNRs, gain and time shift.

Everything draws from one seeded ``numpy.random.Generator`` so a training run is reproducible.
Real backgrounds come only from the training split's non-cry clips (speech, laughter, rooms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.training.noise import synth_background, unit_rms
from models.training.whine import appliance_whine

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AugmentParams:
    snrs_db: tuple[float, ...] = (30.0, 20.0, 10.0, 5.0, 0.0)
    clean_probability: float = 0.2  # some clips stay as recorded (zero-padded like at evaluation)
    real_background_probability: float = 0.5  # otherwise a synthesized one
    gain_db_range: tuple[float, float] = (-30.0, 0.0)
    peak_limit: float = 0.99
    speed_range: tuple[float, float] = (0.85, 1.2)  # resampling changes pitch and tempo together
    # A steady electrical whine (models/training/whine.py) added to this share of the mixed
    # clips, cries and non-cries alike, this many dB under (positive) or over (negative) the
    # clip: a steady tone at a cry's pitch must not read as crying.
    whine_probability: float = 0.3
    whine_snr_db_range: tuple[float, float] = (-5.0, 30.0)
    # This share of non-cry clips is played much faster instead (adult speech up to an infant's
    # pitch and syllable rate): voices at a baby's pitch that are not crying.
    high_voice_probability: float = 0.5
    high_voice_speed_range: tuple[float, float] = (1.6, 2.4)


def mix_at_snr(
    signal: FloatArray, background: FloatArray, snr_db: float, signal_power: float
) -> FloatArray:
    """signal + background scaled so that signal_power / background power = 10**(snr/10)."""
    background_power = float(np.mean(np.square(background, dtype=np.float64)))
    if background_power == 0.0 or signal_power == 0.0:
        return np.asarray(signal + background, dtype=np.float32)
    scale = np.sqrt(signal_power / (background_power * 10.0 ** (snr_db / 10.0)))
    return np.asarray(signal + scale * background, dtype=np.float32)


def tile_to_length(clip: FloatArray, n: int, rng: np.random.Generator) -> FloatArray:
    """Repeat a short clip and cut ``n`` samples from a random offset."""
    if len(clip) == 0:
        return np.zeros(n, dtype=np.float32)
    reps = int(np.ceil((n + len(clip)) / len(clip)))
    tiled = np.tile(clip, reps)
    start = int(rng.integers(len(clip)))
    return tiled[start : start + n]


def place(clip: FloatArray, length: int, rng: np.random.Generator) -> tuple[FloatArray, int]:
    """Time shift: put ``clip`` at a random offset in a silent bed of ``length`` samples."""
    bed = np.zeros(length, dtype=np.float32)
    offset = int(rng.integers(0, length - len(clip) + 1))
    bed[offset : offset + len(clip)] = clip
    return bed, offset


def pick_background(
    n: int,
    rate: int,
    real_backgrounds: Sequence[FloatArray],
    params: AugmentParams,
    rng: np.random.Generator,
) -> FloatArray:
    if real_backgrounds and rng.random() < params.real_background_probability:
        source = real_backgrounds[int(rng.integers(len(real_backgrounds)))]
        return unit_rms(tile_to_length(source, n, rng))
    return synth_background(n, rate, rng)


def change_speed(audio: FloatArray, factor: float) -> FloatArray:
    """Play ``factor`` times faster (linear interpolation; aliasing lands above the mel range)."""
    n_out = max(1, int(len(audio) / factor))
    positions = np.arange(n_out, dtype=np.float64) * factor
    return np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)


def speed_factor(is_cry: bool, params: AugmentParams, rng: np.random.Generator) -> float:
    """How much faster to play a clip: a little either way, or a non-cry voice up to a baby's."""
    factor = float(rng.uniform(*params.speed_range))
    # Drawn only when enabled, so a run without it replays the same random stream as before.
    if (
        not is_cry
        and params.high_voice_probability
        and rng.random() < params.high_voice_probability
    ):
        factor = float(rng.uniform(*params.high_voice_speed_range))
    return factor


def apply_gain(audio: FloatArray, params: AugmentParams, rng: np.random.Generator) -> FloatArray:
    """Random level, then scale down if it would clip (a peak limiter, not hard clipping)."""
    gained = audio * np.float32(10.0 ** (rng.uniform(*params.gain_db_range) / 20.0))
    peak = float(np.max(np.abs(gained))) if gained.size else 0.0
    if peak > params.peak_limit:
        gained *= np.float32(params.peak_limit / peak)
    return gained.astype(np.float32)


def augment(
    foreground: FloatArray,
    rate: int,
    real_backgrounds: Sequence[FloatArray],
    params: AugmentParams,
    rng: np.random.Generator,
) -> FloatArray:
    """Mix a background into an already placed clip at a random SNR and apply a random gain."""
    if rng.random() < params.clean_probability:
        return apply_gain(foreground, params, rng)
    active = foreground[np.abs(foreground) > 0]
    power = float(np.mean(np.square(active, dtype=np.float64))) if active.size else 0.0
    background = pick_background(len(foreground), rate, real_backgrounds, params, rng)
    snr = float(rng.choice(params.snrs_db))
    mixed = mix_at_snr(foreground, background, snr, power)
    # Drawn only when enabled, so a run with whine_probability 0 replays the earlier stream.
    if params.whine_probability and rng.random() < params.whine_probability:
        whine = appliance_whine(len(mixed), rate, rng)
        mixed = mix_at_snr(mixed, whine, rng.uniform(*params.whine_snr_db_range), power)
    return apply_gain(mixed, params, rng)
