"""Corpus clips and synthesized sounds rendered as a nursery would hear them.

A *rendition* is one sound (a corpus clip, a synthesized household sound or a noise bed alone)
put through one *condition*: a noise bed at an SNR, a room, a distance, a level. The head is
trained on random renditions of training material; the validation split (which picks the
threshold) and the field test (which is only reported) use their own seeds, their own clips and
their own ambience recordings, so no recording, bed or seed is shared between them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.cry.audio import load_audio
from models.training.augment import change_speed, mix_at_snr, tile_to_length
from models.training.dataset import Clip
from models.training.household import HOUSEHOLD, household_sound
from models.training.noise import NOISE_GENERATORS, unit_rms
from models.training.rooms import RoomParams, apply_room

FloatArray = npt.NDArray[np.float32]
RATE = 16_000
# Ambience recordings per split, by file: the field test and validation hear rooms that training
# never did (a hall of people, heavy rain, crackling fire are the test's).
AMBIENCE_SPLITS: dict[str, tuple[str, ...]] = {
    "test": ("hall-people", "rain-heavy", "night-bugs-light-271304", "fire-crackling"),
    "validation": ("rain-medium-319235", "river-stream-medium", "birds-light", "water-fish"),
}
NOISE_KINDS = ("white", "pink", "brown", "fan", "hum", "ambience")
ACTIVE_DB = 20.0  # frames within this of the loudest count as the sound itself
FRAME = 800  # 50 ms


def is_laughter(path: str, is_cry: bool) -> bool:
    """A non-cry clip of laughter: the corpus's `laugh` folders and the `ovos_laugh` download
    both name it in the clip's path (renditions of it, pitched or not, keep the path)."""
    return not is_cry and "laugh" in path


@dataclass(frozen=True)
class Rendition:
    audio: FloatArray
    is_cry: bool
    source: str  # corpus source, "household:<kind>" or "bed:<kind>"
    condition: str  # "clean", "white 0 dB", "reverb 0.4 s", ...
    clip: str  # the corpus path or a synthetic id, to group renditions of one sound
    # Sample ranges of the sound itself (cry patches outside them are not labelled crying).
    active: tuple[tuple[int, int], ...] = field(default=())


def load_ambience(directory: Path, split: str) -> list[FloatArray]:
    """The ambience recordings of one split ("train" gets every file no other split claims)."""
    with (directory / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    claimed = {name for names in AMBIENCE_SPLITS.values() for name in names}

    def belongs(row: dict[str, str]) -> bool:
        stem = Path(row["path"]).stem
        keys = {stem, row["kind"]}
        if split == "train":
            return not keys & claimed
        return bool(keys & set(AMBIENCE_SPLITS[split]))

    return [load_audio(directory / row["path"], RATE) for row in rows if belongs(row)]


def active_power(signal: FloatArray) -> float:
    """Mean power of the 50 ms frames within ACTIVE_DB of the loudest: the sound, not its pauses."""
    n = len(signal) // FRAME
    if n == 0:
        return float(np.mean(np.square(signal, dtype=np.float64))) if len(signal) else 0.0
    frames = np.mean(np.square(signal[: n * FRAME].reshape(n, FRAME), dtype=np.float64), axis=1)
    loud = frames[frames >= frames.max() * 10.0 ** (-ACTIVE_DB / 10.0)]
    return float(loud.mean())


def active_ranges(signal: FloatArray, offset: int) -> tuple[tuple[int, int], ...]:
    n = len(signal) // FRAME
    if n == 0:
        return ((offset, offset + len(signal)),)
    frames = np.mean(np.square(signal[: n * FRAME].reshape(n, FRAME), dtype=np.float64), axis=1)
    loud = frames >= frames.max() * 10.0 ** (-ACTIVE_DB / 10.0)
    return tuple(
        (offset + int(i) * FRAME, offset + (int(i) + 1) * FRAME) for i in np.flatnonzero(loud)
    )


def noise_bed(
    kind: str, n: int, rng: np.random.Generator, ambience: Sequence[FloatArray]
) -> FloatArray:
    if kind == "ambience" and ambience:
        return unit_rms(tile_to_length(ambience[int(rng.integers(len(ambience)))], n, rng))
    return NOISE_GENERATORS["white" if kind == "ambience" else kind](n, RATE, rng)


def set_level(signal: FloatArray, level_dbfs: float, peak_limit: float = 0.99) -> FloatArray:
    """Scale to an RMS level (dBFS), then down if a peak would clip."""
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64)))) or 1.0
    scaled = signal * np.float32(10.0 ** (level_dbfs / 20.0) / rms)
    peak = float(np.max(np.abs(scaled))) if scaled.size else 0.0
    if peak > peak_limit:
        scaled *= np.float32(peak_limit / peak)
    return scaled.astype(np.float32)


@dataclass(frozen=True)
class ConditionParams:
    snrs_db: tuple[float, ...] = (-5.0, 0.0, 5.0, 10.0, 20.0, 30.0)
    clean_probability: float = 0.15
    level_dbfs_range: tuple[float, float] = (-45.0, -12.0)
    room: RoomParams = field(default_factory=RoomParams)
    pad_s: float = 0.5  # bed before and after the sound, so its onset is heard against the bed
    # Non-cry voices played at a baby's pitch and syllable rate: hard negatives for the head.
    high_voice_probability: float = 0.3
    high_voice_speed: tuple[float, float] = (1.6, 2.4)


def render(
    sound: FloatArray,
    is_cry: bool,
    rng: np.random.Generator,
    params: ConditionParams,
    ambience: Sequence[FloatArray],
    *,
    kind: str | None = None,
    snr_db: float | None = None,
    room: bool = True,
) -> tuple[FloatArray, str, tuple[tuple[int, int], ...]]:
    """One condition: room, bed at an SNR (or clean), level. Returns audio, label, active span."""
    condition: list[str] = []
    if room:
        sound, done = apply_room(sound, RATE, params.room, rng)
        condition += done
    pad = int(params.pad_s * RATE)
    placed = np.concatenate([np.zeros(pad), sound, np.zeros(pad)]).astype(np.float32)
    active = active_ranges(sound, pad)
    clean = kind is None and snr_db is None and rng.random() < params.clean_probability
    if not clean:
        kind = kind or NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
        snr = float(rng.choice(params.snrs_db)) if snr_db is None else snr_db
        bed = noise_bed(kind, len(placed), rng, ambience)
        placed = mix_at_snr(placed, bed, snr, active_power(sound))
        condition.insert(0, f"{kind} {snr:+.0f} dB")
    else:
        condition.insert(0, "clean")
    level = float(rng.uniform(*params.level_dbfs_range))
    return set_level(placed, level), ", ".join(condition), active


def corpus_renditions(
    clips: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    rounds: int,
    rng: np.random.Generator,
    params: ConditionParams,
    ambience: Sequence[FloatArray],
) -> Iterator[Rendition]:
    """``rounds`` random conditions of every clip (plus, for cries, one as recorded)."""
    for clip in clips:
        sound = audio[clip.path]
        if not len(sound):
            continue
        for round_index in range(rounds):
            source_sound = sound
            if not clip.is_cry and round_index > 0 and rng.random() < params.high_voice_probability:
                source_sound = change_speed(sound, float(rng.uniform(*params.high_voice_speed)))
            mixed, condition, active = render(source_sound, clip.is_cry, rng, params, ambience)
            yield Rendition(mixed, clip.is_cry, clip.source, condition, clip.path, active)


def household_renditions(
    count_per_kind: int,
    rng: np.random.Generator,
    params: ConditionParams,
    ambience: Sequence[FloatArray],
    tag: str,
) -> Iterator[Rendition]:
    for kind in HOUSEHOLD:
        for index in range(count_per_kind):
            sound = household_sound(kind, float(rng.uniform(1.5, 4.0)), RATE, rng)
            mixed, condition, active = render(sound, False, rng, params, ambience)
            yield Rendition(
                mixed, False, f"household:{kind}", condition, f"{tag}:{kind}:{index}", active
            )


def bed_renditions(
    count_per_kind: int,
    rng: np.random.Generator,
    ambience: Sequence[FloatArray],
    tag: str,
    level_dbfs_range: tuple[float, float] = (-60.0, -15.0),
) -> Iterator[Rendition]:
    """A noise machine, a fan, hum or ambience alone, at levels from barely there to loud."""
    for kind in NOISE_KINDS:
        for index in range(count_per_kind):
            n = int(float(rng.uniform(2.0, 5.0)) * RATE)
            bed = noise_bed(kind, n, rng, ambience)
            level = float(rng.uniform(*level_dbfs_range))
            yield Rendition(
                set_level(bed, level),
                False,
                f"bed:{kind}",
                f"{level:.0f} dBFS",
                f"{tag}:{kind}:{index}",
            )
