"""A night with one recurring household sound among real cries: the "not a cry" benchmark's.

The night of issue 31: a family whose monitor keeps alerting on the same sound - one baby's
laughter, the family cat - marks one of those alerts "not a cry". To measure what that mark
does, the night places held-out cries (``night.place_cries``), then the recurring source many
times (a different clip of it each time where it has several, at its own level over the bed),
then other household sounds (``field_night.field_event``) in the gaps. Two beds:
``"machine"``, the field night's white- or pink-noise machine all night, and ``"changing"``,
the earlier night's beds whose kind and level change every five minutes.

A night is one home: one nursery, one microphone. With ``acoustics="home"`` (the default) the
room's reverberant tail and the microphone's roll-off are drawn once for the night and every
sound - cries, the recurring source, the others - reaches the microphone through them, each
placement from a distance of its own (its direct-to-reverberant ratio, its level).
``acoustics="per_placement"`` is the harsher, less realistic condition the benchmark first
used: every placement in a room of its own, as if the monitor moved house between two meows.

Everything is seeded; the truth says where each cry and each recurring placement is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from models.training.dataset import Clip
from models.training.field_night import FieldNightParams, field_event
from models.training.night import Night, NightParams, add_at_snr, changing_bed, place_cries
from models.training.noise import pink_noise, white_noise
from models.training.renditions import RATE
from models.training.rooms import RoomParams, apply_home_room, apply_room, draw_home_room

FloatArray = npt.NDArray[np.float32]
Bed = Literal["machine", "changing"]
Acoustics = Literal["home", "per_placement"]
Span = tuple[float, float]
# Most sounds reach the monitor through a room; half of them from across it.
ROOM = RoomParams(reverb_probability=0.8, far_field_probability=0.5, clipping_probability=0.0)


@dataclass(frozen=True)
class RecurringNightParams:
    hours: float = 1.0
    seed: int = 3131
    bed: Bed = "machine"
    machine_level_dbfs: float = -38.0
    cry_snr_db: tuple[float, float] = (0.0, 15.0)
    # Denser than a real night (a cry episode every ~1 min) so that one point of recall is
    # measurable in a few hours of audio.
    cry_gap_s: tuple[float, float] = (20.0, 60.0)
    recurring_snr_db: tuple[float, float] = (0.0, 20.0)
    recurring_gap_s: tuple[float, float] = (15.0, 60.0)
    event_snr_db: tuple[float, float] = (0.0, 20.0)
    event_gap_s: tuple[float, float] = (8.0, 25.0)
    # Nothing else within this of a cry or of another placement: each episode has one cause.
    guard_s: float = 5.0
    room: RoomParams = field(default_factory=lambda: ROOM)
    acoustics: Acoustics = "home"

    def night_params(self) -> NightParams:
        return NightParams(
            hours=self.hours,
            seed=self.seed,
            cry_snr_db=self.cry_snr_db,
            cry_gap_s=self.cry_gap_s,
            guard_s=self.guard_s,
        )


@dataclass(frozen=True)
class RecurringNight:
    night: Night
    recurring: list[Span]  # (start_s, end_s) of every placement of the recurring source
    others: list[Span]  # (start_s, end_s) of every other household sound
    bed: Bed


def _free(start: float, end: float, taken: Sequence[Span], guard: float) -> bool:
    return not any(a - guard < end and start < b + guard for a, b in taken)


def _bed(n: int, params: RecurringNightParams, rng: np.random.Generator) -> FloatArray:
    if params.bed == "changing":
        return changing_bed(n, RATE, params.night_params(), rng)
    machine = white_noise if rng.random() < 0.5 else pink_noise
    return machine(n, RATE, rng) * np.float32(10.0 ** (params.machine_level_dbfs / 20.0))


def _scatter(
    night: FloatArray,
    bed: FloatArray,
    make: Callable[[], FloatArray],
    gap_s: tuple[float, float],
    snr_db: tuple[float, float],
    taken: list[Span],
    guard: float,
    rng: np.random.Generator,
) -> list[Span]:
    """Place sounds from ``make()`` every ``gap_s`` where nothing in ``taken`` is near."""
    placed: list[Span] = []
    position = float(rng.uniform(*gap_s))
    while position < len(night) / RATE:
        sound = make()
        end = position + len(sound) / RATE
        if end < len(night) / RATE and _free(position, end, taken, guard):
            add_at_snr(night, bed, sound, int(position * RATE), float(rng.uniform(*snr_db)))
            placed.append((position, end))
            taken.append((position, end))
        position = end + float(rng.uniform(*gap_s))
    return placed


def room_for_night(
    params: RecurringNightParams, rng: np.random.Generator
) -> Callable[[FloatArray], FloatArray]:
    """How a sound reaches the night's microphone: through the home's one room (drawn here,
    once) from a distance of its own, or through a room of its own (``per_placement``)."""
    if params.acoustics == "per_placement":
        return lambda sound: apply_room(sound, RATE, params.room, rng)[0]
    home = draw_home_room(RATE, params.room, rng)
    return lambda sound: apply_home_room(sound, RATE, home, params.room, rng)


def synthesize_recurring_night(
    cry_clips: Sequence[Clip],
    recurring_clips: Sequence[Clip],
    other_clips: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    params: RecurringNightParams,
) -> RecurringNight:
    """Cries from ``cry_clips``; the recurring source from ``recurring_clips`` (one source:
    one baby's laughs, one cat); other events from ``other_clips`` and synthesized sounds."""
    if not cry_clips or not recurring_clips:
        raise ValueError("a recurring night needs cries and a recurring source")
    rng = np.random.default_rng(params.seed)
    n = int(params.hours * 3600 * RATE)
    bed = _bed(n, params, rng)
    night = bed.copy()
    room = room_for_night(params, rng)
    reverberant = {clip.path: room(audio[clip.path]) for clip in cry_clips}
    cries = place_cries(night, bed, cry_clips, reverberant, RATE, params.night_params(), rng)
    taken = list(cries)

    def recurring() -> FloatArray:
        clip = recurring_clips[int(rng.integers(len(recurring_clips)))]
        return room(audio[clip.path])

    event_params = FieldNightParams(seed=params.seed)

    def other() -> FloatArray:
        sound = field_event(other_clips, audio, event_params, rng)
        return room(sound)

    placed = _scatter(
        night,
        bed,
        recurring,
        params.recurring_gap_s,
        params.recurring_snr_db,
        taken,
        params.guard_s,
        rng,
    )
    others = _scatter(
        night, bed, other, params.event_gap_s, params.event_snr_db, taken, params.guard_s, rng
    )
    peak = float(np.max(np.abs(night)))
    if peak > 1.0:
        night /= np.float32(peak)
    return RecurringNight(Night(night, RATE, cries), placed, others, params.bed)
