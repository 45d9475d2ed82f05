"""A synthesized "nursery night": held-out cries placed in realistic background, with truth.

The bed is a stationary noise (fan, white/pink/brown noise machine, hum) whose kind and level
change every few minutes; on top go non-cry events from the same split's clips (bursts of
speech like a TV or parents talking, laughter, household sounds, counting) and cry episodes
(one to three consecutive clips of one baby). Everything is seeded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.training.dataset import Clip
from models.training.noise import synth_background

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class NightParams:
    hours: float = 2.0
    seed: int = 2024
    bed_segment_s: float = 300.0
    bed_level_dbfs: tuple[float, float] = (-55.0, -35.0)
    cry_snr_db: tuple[float, float] = (5.0, 20.0)
    event_snr_db: tuple[float, float] = (0.0, 25.0)
    cry_gap_s: tuple[float, float] = (60.0, 180.0)  # quiet time between cry episodes
    event_gap_s: tuple[float, float] = (5.0, 40.0)  # time between non-cry events
    clips_per_cry: tuple[int, int] = (1, 3)
    speech_burst_clips: tuple[int, int] = (3, 20)  # a TV or a conversation: speech run together
    guard_s: float = 5.0  # non-cry events keep this far from cries, so truth stays unambiguous
    # A cry episode starts at its first 50 ms frame within this of the episode's loudest frame:
    # a clip's quiet lead-in (the phone being set down, a breath) is not crying yet, and onset
    # latency is counted from when a parent in the room would hear the cry.
    audible_onset_db: float = 20.0
    onset_frame_s: float = 0.05


@dataclass(frozen=True)
class Night:
    audio: FloatArray
    sample_rate: int
    cries: list[tuple[float, float]]  # (audible start_s, end_s) of every cry episode

    @property
    def hours(self) -> float:
        return len(self.audio) / self.sample_rate / 3600.0

    @property
    def cry_hours(self) -> float:
        return sum(end - start for start, end in self.cries) / 3600.0


def _db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def _rms(signal: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(signal, dtype=np.float64)))) if signal.size else 0.0


def changing_bed(n: int, rate: int, params: NightParams, rng: np.random.Generator) -> FloatArray:
    """A stationary noise whose kind and level change every ``params.bed_segment_s``."""
    bed = np.zeros(n, dtype=np.float32)
    segment = int(params.bed_segment_s * rate)
    for start in range(0, n, segment):
        length = min(segment, n - start)
        level = _db_to_gain(rng.uniform(*params.bed_level_dbfs))
        bed[start : start + length] = synth_background(length, rate, rng) * level
    return bed


def add_at_snr(
    night: FloatArray, bed: FloatArray, sound: FloatArray, at: int, snr_db: float
) -> None:
    """Mix ``sound`` in at ``snr_db`` over the local bed level (levels change by segment)."""
    sound = sound[: len(night) - at]
    rms = _rms(sound[np.abs(sound) > 0])
    target_rms = _rms(bed[at : at + len(sound)]) * _db_to_gain(snr_db)
    if rms > 0:
        night[at : at + len(sound)] += sound * np.float32(target_rms / rms)


def audible_onset_s(episode: FloatArray, rate: int, params: NightParams) -> float:
    """Seconds from the start of ``episode`` to its first clearly audible frame."""
    frame = max(1, int(params.onset_frame_s * rate))
    usable = len(episode) // frame * frame
    if usable == 0:
        return 0.0
    energy = np.mean(np.square(episode[:usable].reshape(-1, frame), dtype=np.float64), axis=1)
    loudest = float(energy.max())
    if loudest == 0.0:
        return 0.0
    first = int(np.argmax(energy >= loudest * 10.0 ** (-params.audible_onset_db / 10.0)))
    return first * frame / rate


def _cry_episode(
    groups: Sequence[Sequence[Clip]],
    audio: Mapping[str, FloatArray],
    params: NightParams,
    rng: np.random.Generator,
) -> FloatArray:
    group = groups[int(rng.integers(len(groups)))]
    count = int(rng.integers(params.clips_per_cry[0], params.clips_per_cry[1] + 1))
    picks = rng.choice(len(group), size=min(count, len(group)), replace=False)
    return np.concatenate([audio[group[int(i)].path] for i in picks])


def _non_cry_event(
    negatives: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    params: NightParams,
    rng: np.random.Generator,
) -> FloatArray:
    clip = negatives[int(rng.integers(len(negatives)))]
    if clip.source != "speech_commands":
        return audio[clip.path]
    speech = [c for c in negatives if c.source == "speech_commands"]
    count = int(rng.integers(*params.speech_burst_clips))
    return np.concatenate(
        [audio[speech[int(i)].path] for i in rng.integers(len(speech), size=count)]
    )


def place_cries(
    night: FloatArray,
    bed: FloatArray,
    cry_clips: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    rate: int,
    params: NightParams,
    rng: np.random.Generator,
) -> list[tuple[float, float]]:
    by_group: dict[str, list[Clip]] = defaultdict(list)
    for clip in cry_clips:
        by_group[clip.group].append(clip)
    groups = [by_group[name] for name in sorted(by_group)]
    cries: list[tuple[float, float]] = []
    position = int(rng.uniform(*params.cry_gap_s) * rate)
    while True:
        episode = _cry_episode(groups, audio, params, rng)
        if position + len(episode) >= len(night):
            return cries
        add_at_snr(night, bed, episode, position, rng.uniform(*params.cry_snr_db))
        onset_s = position / rate + audible_onset_s(episode, rate, params)
        cries.append((onset_s, (position + len(episode)) / rate))
        position += len(episode) + int(rng.uniform(*params.cry_gap_s) * rate)


def synthesize_night(
    cry_clips: Sequence[Clip],
    non_cry_clips: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    rate: int,
    params: NightParams,
) -> Night:
    rng = np.random.default_rng(params.seed)
    n = int(params.hours * 3600 * rate)
    bed = changing_bed(n, rate, params, rng)
    night = bed.copy()
    cries = place_cries(night, bed, cry_clips, audio, rate, params, rng)
    guard = params.guard_s
    position = rng.uniform(*params.event_gap_s)
    while position < n / rate:
        event = _non_cry_event(non_cry_clips, audio, params, rng)
        end = position + len(event) / rate
        if not any(start - guard < end and position < stop + guard for start, stop in cries):
            add_at_snr(night, bed, event, int(position * rate), rng.uniform(*params.event_snr_db))
        position = end + rng.uniform(*params.event_gap_s)
    peak = float(np.max(np.abs(night)))
    if peak > 1.0:
        night /= np.float32(peak)
    return Night(night, rate, cries)


def split_night(
    clips: Sequence[Clip], audio: Mapping[str, FloatArray], rate: int, params: NightParams
) -> Night:
    """A night of one split's clips: its cries as episodes, the rest as events."""
    return synthesize_night(
        [c for c in clips if c.is_cry], [c for c in clips if not c.is_cry], audio, rate, params
    )
