"""Audio file loading and resampling to the model's rate (mono float32 in [-1, 1])."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from models.cry.errors import AudioLoadError

FloatArray = npt.NDArray[np.float32]


def to_mono(samples: npt.NDArray[np.floating]) -> FloatArray:
    """Average channels; soundfile returns (frames, channels) for multichannel files."""
    if samples.ndim == 1:
        return np.asarray(samples, dtype=np.float32)
    return np.asarray(samples.mean(axis=1), dtype=np.float32)


def resample(samples: FloatArray, from_rate: int, to_rate: int) -> FloatArray:
    """Polyphase resampling (Kaiser-windowed FIR); the identity when the rates agree."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    # Imported here, not at module level: scipy.signal costs ~80 MB of RSS, and the device never
    # resamples (its microphone is opened at the model rate) - only files at other rates do.
    from scipy.signal import resample_poly

    divisor = gcd(from_rate, to_rate)
    resampled = resample_poly(samples, to_rate // divisor, from_rate // divisor)
    return np.asarray(resampled, dtype=np.float32)


def load_audio(path: str | Path, target_rate: int) -> FloatArray:
    """Read any soundfile-supported file (WAV, FLAC, OGG, ...) as mono float32 at target_rate."""
    if not Path(path).is_file():  # libsndfile would only say "System error"
        raise AudioLoadError(f"cannot read audio file {path}: no such file")
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=False)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioLoadError(f"cannot read audio file {path}: {exc}") from exc
    return resample(to_mono(np.asarray(samples)), int(rate), target_rate)


def rms_dbfs(samples: FloatArray, floor_db: float = -120.0) -> float:
    """Root-mean-square level relative to a full-scale square wave, in dBFS."""
    if samples.size == 0:
        return floor_db
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(floor_db, 20.0 * float(np.log10(rms))) if rms > 0 else floor_db
