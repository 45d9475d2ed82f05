"""A harder synthesized night: a white-noise machine all night, a household sound every ~12 s,
and cries that are reverberant and only a few dB above the noise.

This is the kind of night the issue's field measurement used; ``night.py``'s night (beds that
change every five minutes, sparser events) stays as the earlier benchmark. Built from one
split's clips (the test split for the report) plus synthesized household sounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.training.dataset import Clip
from models.training.household import HOUSEHOLD, household_sound
from models.training.night import Night, NightParams, add_at_snr, place_cries
from models.training.noise import pink_noise, white_noise
from models.training.renditions import RATE
from models.training.rooms import RoomParams, apply_room

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FieldNightParams:
    hours: float = 1.0
    seed: int = 4242
    machine_level_dbfs: float = -38.0
    cry_snr_db: tuple[float, float] = (0.0, 10.0)
    event_snr_db: tuple[float, float] = (0.0, 20.0)
    event_gap_s: tuple[float, float] = (6.0, 18.0)  # a household sound every ~12 s
    cry_gap_s: tuple[float, float] = (60.0, 150.0)
    guard_s: float = 5.0
    # Share of events that are synthesized household sounds (the rest: the split's own
    # non-cry clips - laughter, speech, animals, sirens).
    household_share: float = 0.5

    def night_params(self) -> NightParams:
        return NightParams(
            hours=self.hours,
            seed=self.seed,
            cry_snr_db=self.cry_snr_db,
            cry_gap_s=self.cry_gap_s,
            guard_s=self.guard_s,
        )


def field_event(
    negatives: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    params: FieldNightParams,
    rng: np.random.Generator,
) -> FloatArray:
    """One non-cry event: a synthesized household sound or one of ``negatives``."""
    if not negatives or rng.random() < params.household_share:
        kinds = sorted(HOUSEHOLD)
        return household_sound(kinds[int(rng.integers(len(kinds)))], 2.0, RATE, rng)
    return audio[negatives[int(rng.integers(len(negatives)))].path]


def synthesize_field_night(
    cry_clips: Sequence[Clip],
    non_cry_clips: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    params: FieldNightParams,
) -> Night:
    rng = np.random.default_rng(params.seed)
    n = int(params.hours * 3600 * RATE)
    machine = white_noise if rng.random() < 0.5 else pink_noise
    bed = machine(n, RATE, rng) * np.float32(10.0 ** (params.machine_level_dbfs / 20.0))
    night = bed.copy()
    room = RoomParams(reverb_probability=1.0, far_field_probability=0.5, clipping_probability=0.0)
    reverberant = {
        clip.path: apply_room(audio[clip.path], RATE, room, rng)[0] for clip in cry_clips
    }
    cries = place_cries(night, bed, cry_clips, reverberant, RATE, params.night_params(), rng)
    position = float(rng.uniform(*params.event_gap_s))
    while position < n / RATE:
        event = apply_room(field_event(non_cry_clips, audio, params, rng), RATE, room, rng)[0]
        end = position + len(event) / RATE
        guard = params.guard_s
        if not any(start - guard < end and position < stop + guard for start, stop in cries):
            add_at_snr(
                night, bed, event, int(position * RATE), float(rng.uniform(*params.event_snr_db))
            )
        position = end + float(rng.uniform(*params.event_gap_s))
    peak = float(np.max(np.abs(night)))
    if peak > 1.0:
        night /= np.float32(peak)
    return Night(night, RATE, cries)
