"""The field night: a noise machine all night, household sounds, reverberant cries near the bed."""

from __future__ import annotations

import functools
import itertools

import numpy as np

from models.training.dataset import Clip
from models.training.field_night import FieldNightParams, synthesize_field_night
from models.training.night import Night
from models.training.renditions import RATE

PARAMS = FieldNightParams(hours=0.08, seed=11)  # ~5 minutes: a few cries, ~30 events
FRAME_S = 0.25


def material() -> tuple[list[Clip], list[Clip], dict[str, np.ndarray]]:
    """Cries and events of steady broadband noise: a room changes their level little (a pure
    tone can land in a notch of the room's response and lose 20 dB)."""
    cries = [Clip(f"cry/{i}.flac", "cry", "test", f"g{i % 2}", RATE, 2.0, "test") for i in range(4)]
    others = [
        Clip(f"dog/{i}.flac", "not_cry", "esc50", f"d{i}", RATE, 2.0, "test") for i in range(3)
    ]
    rng = np.random.default_rng(0)
    return (
        cries,
        others,
        {c.path: (0.3 * rng.standard_normal(2 * RATE)).astype(np.float32) for c in cries + others},
    )


@functools.cache
def night() -> Night:
    cries, others, audio = material()
    return synthesize_field_night(cries, others, audio, PARAMS)


def bed_dbfs(audio: np.ndarray) -> float:
    """The machine's level: the quietest frames are the machine alone."""
    return float(np.percentile(frame_dbfs(audio), 10))


def frame_dbfs(audio: np.ndarray) -> np.ndarray:
    frame = int(FRAME_S * RATE)
    n = len(audio) // frame
    power = np.mean(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    return np.asarray(10 * np.log10(power))


def test_the_night_is_as_long_as_asked_seeded_and_not_clipped() -> None:
    first, second = night(), night()
    assert first.sample_rate == RATE
    assert len(first.audio) == int(PARAMS.hours * 3600 * RATE)
    np.testing.assert_array_equal(first.audio, second.audio)
    assert first.cries == second.cries
    assert float(np.max(np.abs(first.audio))) <= 1.0
    cries, others, audio = material()
    other_seed = synthesize_field_night(
        cries, others, audio, FieldNightParams(hours=PARAMS.hours, seed=12)
    )
    assert not np.array_equal(other_seed.audio, first.audio)


def test_the_noise_machine_runs_all_night_at_its_level() -> None:
    audio = night().audio
    levels, bed = frame_dbfs(audio), bed_dbfs(audio)
    # At its level, or a few dB under it when a loud event made the night scale down to 1.0.
    assert PARAMS.machine_level_dbfs - 6.0 < bed < PARAMS.machine_level_dbfs + 0.5
    assert float(levels.min()) > bed - 1.0  # it never stops
    # Something happens over it: events and cries, up to 20 dB above.
    assert float(levels.max()) > bed + 6.0


def test_cries_are_inside_the_night_apart_and_only_a_few_db_over_the_machine() -> None:
    result = night()
    assert len(result.cries) >= 2
    duration = len(result.audio) / RATE
    low_gap = PARAMS.cry_gap_s[0]
    for (_, end), (next_start, _) in itertools.pairwise(result.cries):
        assert next_start - end >= low_gap - 1e-6
    for start, end in result.cries:
        assert 0.0 < start < end <= duration
        during = frame_dbfs(result.audio[int(start * RATE) + RATE : int(end * RATE)])
        over = float(np.median(during)) - bed_dbfs(result.audio)
        # Cry plus bed over the bed alone: +3 dB at 0 dB SNR, about the SNR itself at 10 dB.
        assert 2.0 < over < PARAMS.cry_snr_db[1] + 0.5


def test_household_sounds_keep_their_distance_from_the_cries() -> None:
    result = night()
    guard = PARAMS.guard_s
    for start, end in result.cries:
        before = result.audio[int((start - guard + 0.5) * RATE) : int((start - 0.1) * RATE)]
        after = result.audio[int((end + 0.1) * RATE) : int((end + guard - 0.5) * RATE)]
        for quiet in (before, after):
            # The machine alone: no frame louder than the bed's own fluctuation.
            assert float(frame_dbfs(quiet).max()) < bed_dbfs(result.audio) + 1.0
