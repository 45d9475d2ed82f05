"""Log-mel features: one pure-numpy code path for training, the device and the cloud.

The front end is deliberately band-limited (``fmax_hz`` below 4 kHz): most recorded cries are
8 kHz phone audio while most negatives are 16 kHz, so any energy above 4 kHz would let a model
learn "phone audio" instead of "crying". Frames are not centred (no look-ahead padding), which is
what makes the streaming version produce exactly the frames of the whole-clip version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LogMelParams:
    """Frozen front-end parameters; stored in the model manifest and read back from it."""

    sample_rate: int = 16_000
    frame_length: int = 400  # 25 ms analysis frame
    hop_length: int = 160  # 10 ms between frames
    n_fft: int = 512
    n_mels: int = 40
    fmin_hz: float = 50.0
    fmax_hz: float = 3_800.0  # stays under 4 kHz and clear of the 8 kHz resampler's roll-off
    power_floor: float = 1e-10  # log floor (-100 dB); digital silence lands exactly here

    def __post_init__(self) -> None:
        if self.frame_length > self.n_fft:
            raise ValueError("frame_length must not exceed n_fft")
        if not 0 < self.fmin_hz < self.fmax_hz <= self.sample_rate / 2:
            raise ValueError("need 0 < fmin_hz < fmax_hz <= sample_rate / 2")
        if self.hop_length <= 0 or self.n_mels <= 0 or self.power_floor <= 0:
            raise ValueError("hop_length, n_mels and power_floor must be positive")

    @property
    def floor_db(self) -> float:
        return float(10.0 * np.log10(self.power_floor))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogMelParams:
        return cls(**data)


@dataclass(frozen=True)
class WindowParams:
    """How frames are grouped into the model's analysis windows and normalised."""

    window_frames: int = 98  # 400 + 97 * 160 samples = 0.995 s of audio
    # A new score every 0.1 s: onsets are seen sooner, and the streaming front end computes
    # each frame once instead of ~10 times (recomputing a 98-frame window every 10 frames).
    hop_frames: int = 10
    dynamic_range_db: float = 80.0  # values more than this below the window's peak are clipped

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowParams:
        return cls(**data)


def hz_to_mel(hz: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(params: LogMelParams) -> FloatArray:
    """Triangular filters, shape (n_mels, n_fft // 2 + 1); same as librosa htk=True, norm=None."""
    fft_hz = np.linspace(0.0, params.sample_rate / 2, params.n_fft // 2 + 1)
    edges_hz = mel_to_hz(
        np.linspace(hz_to_mel(params.fmin_hz), hz_to_mel(params.fmax_hz), params.n_mels + 2)
    )
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights.setflags(write=False)
    return weights.astype(np.float32)


@lru_cache(maxsize=8)
def analysis_window(frame_length: int) -> FloatArray:
    """Periodic Hann window (what librosa/scipy use for spectral analysis)."""
    n = np.arange(frame_length, dtype=np.float64)
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / frame_length)).astype(np.float32)
    window.setflags(write=False)
    return window


def frame_count(n_samples: int, params: LogMelParams) -> int:
    if n_samples < params.frame_length:
        return 0
    return 1 + (n_samples - params.frame_length) // params.hop_length


def frames_to_log_mel(frames: FloatArray, params: LogMelParams) -> FloatArray:
    """Log-mel (dB) of already-cut frames, shape (n_frames, frame_length) -> (n_frames, n_mels)."""
    windowed = frames * analysis_window(params.frame_length)
    spectrum = np.fft.rfft(windowed, n=params.n_fft, axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel_power = power @ mel_filterbank(params).T
    # The log is taken in float64 (a float64 floor promotes the array under NumPy 2's rules as
    # well as 1's), so digital silence lands exactly on the floor, as in training.
    floored = np.maximum(mel_power, np.float64(params.power_floor))
    return np.asarray(10.0 * np.log10(floored), np.float32)


def cut_frames(samples: FloatArray, params: LogMelParams) -> FloatArray:
    """Overlapping frames as a strided view, shape (n_frames, frame_length)."""
    n_frames = frame_count(len(samples), params)
    if n_frames == 0:
        return np.zeros((0, params.frame_length), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(samples, params.frame_length)
    return view[:: params.hop_length][:n_frames]


def log_mel(samples: npt.ArrayLike, params: LogMelParams) -> FloatArray:
    """Whole-clip log-mel in dB, shape (n_frames, n_mels); frame i starts at i * hop_length."""
    audio = np.ascontiguousarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {audio.shape}")
    frames = cut_frames(audio, params)
    if len(frames) == 0:
        return np.zeros((0, params.n_mels), dtype=np.float32)
    return frames_to_log_mel(frames, params)


class StreamingLogMel:
    """Incremental log-mel: each frame is computed exactly once, as soon as its samples arrive.

    Only the samples of the next, still incomplete frame are kept between calls, so the cost per
    hop is one frame regardless of how the stream is chunked.
    """

    def __init__(self, params: LogMelParams) -> None:
        self.params = params
        self._pending = np.zeros(0, dtype=np.float32)
        self.frames_emitted = 0

    def push(self, samples: npt.ArrayLike) -> FloatArray:
        """Feed new mono samples; return the log-mel rows of the frames they completed."""
        chunk = np.asarray(samples, dtype=np.float32).reshape(-1)
        audio = np.concatenate((self._pending, chunk)) if len(self._pending) else chunk
        n_frames = frame_count(len(audio), self.params)
        if n_frames == 0:
            self._pending = audio.copy()
            return np.zeros((0, self.params.n_mels), dtype=np.float32)
        rows = frames_to_log_mel(cut_frames(audio, self.params), self.params)
        self._pending = audio[n_frames * self.params.hop_length :].copy()
        self.frames_emitted += n_frames
        return rows

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self.frames_emitted = 0


def normalise_window(window_db: FloatArray, params: WindowParams) -> FloatArray:
    """Remove absolute gain: reference the window to its own peak and map to [0, 1].

    A window that is uniformly at one level (e.g. digital silence) maps to all ones, so loudness
    and the recording chain's gain carry no information; only the spectro-temporal shape does.
    """
    peak = float(np.max(window_db)) if window_db.size else 0.0
    scaled = (window_db - peak) / params.dynamic_range_db + 1.0
    return np.asarray(np.clip(scaled, 0.0, 1.0), dtype=np.float32)


def window_starts(n_frames: int, params: WindowParams) -> range:
    """First frame of each full analysis window in a clip of ``n_frames`` frames."""
    if n_frames < params.window_frames:
        return range(0)
    return range(0, n_frames - params.window_frames + 1, params.hop_frames)


def windows_from_log_mel(frames_db: FloatArray, params: WindowParams) -> FloatArray:
    """All normalised windows of a clip, shape (n_windows, window_frames, n_mels)."""
    starts = window_starts(len(frames_db), params)
    windows = [normalise_window(frames_db[s : s + params.window_frames], params) for s in starts]
    if not windows:
        return np.zeros((0, params.window_frames, frames_db.shape[1]), dtype=np.float32)
    return np.stack(windows)
