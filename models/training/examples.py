"""Turning (augmented) clips into labelled, normalised model windows via models.cry.features."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.cry.features import (
    LogMelParams,
    WindowParams,
    log_mel,
    normalise_window,
    window_starts,
)
from models.training.augment import AugmentParams, augment, change_speed, place, speed_factor
from models.training.noise import synth_background

FloatArray = npt.NDArray[np.float32]
# A cry clip's window counts as crying if its cry energy is within this of the clip's loudest
# window; quieter windows (pauses for breath, lead-in) are ambiguous and left out of training.
CRY_WINDOW_RELATIVE_DB = 20.0
SHORT_CLIP_EXTRA_S = 0.5  # room to shift short clips around inside their one-window bed


@dataclass(frozen=True)
class FrontEnd:
    features: LogMelParams
    windows: WindowParams

    @property
    def window_samples(self) -> int:
        return self.features.frame_length + (self.windows.window_frames - 1) * (
            self.features.hop_length
        )

    def window_span(self, first_frame: int) -> slice:
        start = first_frame * self.features.hop_length
        return slice(start, start + self.window_samples)


def pad_to_window(samples: FloatArray, front_end: FrontEnd) -> FloatArray:
    """Zero-pad a clip shorter than one analysis window at the end (as the detector does)."""
    missing = front_end.window_samples - len(samples)
    return np.pad(samples, (0, missing)) if missing > 0 else samples


def windows_and_labels(
    audio: FloatArray, cry_part: FloatArray | None, front_end: FrontEnd
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Normalised windows of ``audio``; labels 1/0, or -1 where the cry is too faint to say."""
    frames_db = log_mel(audio, front_end.features)
    starts = list(window_starts(len(frames_db), front_end.windows))
    windows = np.stack(
        [
            normalise_window(frames_db[s : s + front_end.windows.window_frames], front_end.windows)
            for s in starts
        ]
    )
    if cry_part is None:
        return windows, np.zeros(len(starts), dtype=np.int8)
    energy = np.array(
        [
            float(np.sum(np.square(cry_part[front_end.window_span(s)], dtype=np.float64)))
            for s in starts
        ]
    )
    loudest = float(energy.max())
    labels = np.where(energy >= loudest * 10.0 ** (-CRY_WINDOW_RELATIVE_DB / 10.0), 1, -1)
    labels[energy == 0.0] = 0  # background only: the cry was shifted out of this window
    return windows, labels.astype(np.int8)


def shifted(audio: FloatArray, front_end: FrontEnd, rng: np.random.Generator) -> FloatArray:
    """Time shift: short clips move inside a one-window bed, long ones lose a random lead-in."""
    if len(audio) < front_end.window_samples:
        extra = int(SHORT_CLIP_EXTRA_S * front_end.features.sample_rate)
        bed, _ = place(audio, front_end.window_samples + int(rng.integers(0, extra)), rng)
        return bed
    hop_samples = front_end.windows.hop_frames * front_end.features.hop_length
    max_cut = min(hop_samples, len(audio) - front_end.window_samples + 1)
    return audio[int(rng.integers(0, max_cut)) :]


def augmented_examples(
    audio: FloatArray,
    is_cry: bool,
    backgrounds: Sequence[FloatArray],
    front_end: FrontEnd,
    params: AugmentParams,
    rng: np.random.Generator,
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    sped_up = change_speed(audio, speed_factor(is_cry, params, rng))
    foreground = shifted(sped_up, front_end, rng)
    mixed = augment(foreground, front_end.features.sample_rate, backgrounds, params, rng)
    return windows_and_labels(mixed, foreground if is_cry else None, front_end)


def clean_examples(
    audio: FloatArray, is_cry: bool, front_end: FrontEnd
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    padded = pad_to_window(audio, front_end)
    return windows_and_labels(padded, padded if is_cry else None, front_end)


def background_only_examples(
    count: int,
    backgrounds: Sequence[FloatArray],
    front_end: FrontEnd,
    params: AugmentParams,
    rng: np.random.Generator,
) -> FloatArray:
    """Windows of pure nursery background (fans, hum, noise machines) - all negatives."""
    n = front_end.window_samples
    silent = np.zeros(n, dtype=np.float32)
    windows = [
        windows_and_labels(
            augment(
                silent + synth_background(n, front_end.features.sample_rate, rng) * 0.1,
                front_end.features.sample_rate,
                backgrounds,
                params,
                rng,
            ),
            None,
            front_end,
        )[0]
        for _ in range(count)
    ]
    return np.concatenate(windows)
