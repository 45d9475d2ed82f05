"""The recurring night: real cries, one household sound placed again and again, other sounds."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

from models.training.dataset import Clip
from models.training.recurring_night import (
    RecurringNight,
    RecurringNightParams,
    room_for_night,
    synthesize_recurring_night,
)
from models.training.renditions import RATE
from models.training.rooms import RoomParams

PARAMS = RecurringNightParams(hours=0.1, seed=5)  # 6 minutes: a few cries, ~10 recurrences


def clip(path: str, label: str, group: str) -> Clip:
    return Clip(path, label, "test", group, RATE, 2.0, "test")


CRIES = [clip(f"cry/{i}.flac", "cry", f"baby{i % 2}") for i in range(4)]
CAT = [clip(f"cat/{i}.flac", "not_cry", "cat") for i in range(3)]
OTHERS = [clip(f"dog/{i}.flac", "not_cry", f"dog{i}") for i in range(2)]


def audio() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        c.path: (0.3 * rng.standard_normal(2 * RATE)).astype(np.float32)
        for c in CRIES + CAT + OTHERS
    }


@functools.cache
def night(bed: str = "machine", seed: int = PARAMS.seed) -> RecurringNight:
    params = RecurringNightParams(hours=PARAMS.hours, seed=seed, bed=bed)  # type: ignore[arg-type]
    return synthesize_recurring_night(CRIES, CAT, OTHERS, audio(), params)


def test_the_night_is_seeded_as_long_as_asked_and_not_clipped() -> None:
    first = night()
    again = synthesize_recurring_night(CRIES, CAT, OTHERS, audio(), PARAMS)
    np.testing.assert_array_equal(first.night.audio, again.night.audio)
    assert (first.night.cries, first.recurring, first.others) == (
        again.night.cries,
        again.recurring,
        again.others,
    )
    assert len(first.night.audio) == int(PARAMS.hours * 3600 * RATE)
    assert float(np.max(np.abs(first.night.audio))) <= 1.0
    assert night(seed=6).recurring != first.recurring


@pytest.mark.parametrize("bed", ["machine", "changing"])
def test_the_recurring_sound_comes_back_many_times_between_cries(bed: str) -> None:
    built = night(bed)
    assert len(built.night.cries) >= 3
    assert len(built.recurring) >= 3
    assert built.others
    end = len(built.night.audio) / RATE
    spans = [*built.night.cries, *built.recurring, *built.others]
    assert all(0 <= start < stop <= end for start, stop in spans)
    # One cause per episode: nothing is placed within the guard of anything else.
    for (a, b), (c, d) in itertools.combinations(sorted(spans), 2):
        assert b + PARAMS.guard_s <= c or d + PARAMS.guard_s <= a, ((a, b), (c, d))


def test_each_recurrence_is_heard_where_it_was_placed() -> None:
    built = night()
    signal = built.night.audio
    for start, stop in built.recurring:
        inside = signal[int(start * RATE) : int(stop * RATE)]
        before = signal[int((start - 2.0) * RATE) : int((start - 0.5) * RATE)]
        assert np.sqrt(np.mean(inside**2)) > np.sqrt(np.mean(before**2))


def test_a_night_needs_cries_and_a_recurring_source() -> None:
    with pytest.raises(ValueError, match="recurring"):
        synthesize_recurring_night(CRIES, [], OTHERS, audio(), PARAMS)
    with pytest.raises(ValueError, match="cries"):
        synthesize_recurring_night([], CAT, OTHERS, audio(), PARAMS)


def test_a_night_is_one_home_unless_every_placement_gets_a_room_of_its_own() -> None:
    # A click: what reaches the microphone is then the room's response to it.
    click = np.zeros(RATE, dtype=np.float32)
    click[0] = 1.0
    reverberant = RoomParams(reverb_probability=1.0, far_field_probability=0.0)

    def tails(acoustics: str) -> list[np.ndarray]:
        params = RecurringNightParams(
            hours=PARAMS.hours,
            seed=PARAMS.seed,
            room=reverberant,
            acoustics=acoustics,  # type: ignore[arg-type]
        )
        room = room_for_night(params, np.random.default_rng(params.seed))
        return [room(click)[100 : RATE // 4] for _ in range(4)]

    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    home = tails("home")
    assert all(cosine(home[0], t) > 0.99 for t in home[1:])  # one room, at other distances
    rooms = tails("per_placement")
    assert all(abs(cosine(rooms[0], t)) < 0.5 for t in rooms[1:])
    assert RecurringNightParams().acoustics == "home"
    with_rooms = RecurringNightParams(
        hours=PARAMS.hours, seed=PARAMS.seed, acoustics="per_placement"
    )
    built = synthesize_recurring_night(CRIES, CAT, OTHERS, audio(), with_rooms)
    assert not np.array_equal(built.night.audio, night().night.audio)
