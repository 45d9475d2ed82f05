"""The microphone self-check: a dead input is told apart from a quiet room."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from edge.detection import MicrophoneHealth

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
RATE = 16_000
LSB = 1 / 32768  # one step of a 16-bit converter


def listen(health: MicrophoneHealth, samples: npt.NDArray[np.float32]) -> str | None:
    """Feed in 100 ms chunks, as the daemon does; the verdict after the last one."""
    for start in range(0, len(samples), 1600):
        health.add(samples[start : start + 1600])
    return health.problem


def constant(value: float, seconds: float) -> npt.NDArray[np.float32]:
    return np.full(round(seconds * RATE), value, dtype=np.float32)


def recording(name: str) -> npt.NDArray[np.float32]:
    samples, rate = soundfile.read(str(AUDIO / name), dtype="float32")
    assert rate == RATE
    return np.asarray(samples, dtype=np.float32)


def test_digital_zeros_are_a_dead_microphone_once_the_window_is_full() -> None:
    health = MicrophoneHealth(RATE, dead_after_s=5.0)
    assert listen(health, constant(0.0, 4.9)) is None  # not heard long enough to tell
    problem = listen(health, constant(0.0, 0.1))
    assert problem is not None
    assert problem.startswith("every sample was digital zero for 5 s")


def test_one_repeated_value_and_a_stuck_dc_level_are_dead_too() -> None:
    stuck = MicrophoneHealth(RATE, dead_after_s=3.0)
    problem = listen(stuck, constant(-0.25, 3.0))
    assert problem is not None
    assert "same value (-0.25000)" in problem

    # A DC offset that flickers by one converter step a few times a second: not a signal.
    flicker = constant(0.125, 3.0)
    flicker[::4000] += LSB
    dc = MicrophoneHealth(RATE, dead_after_s=3.0)
    problem = listen(dc, flicker)
    assert problem is not None
    assert "fixed level (+0.12500)" in problem


def test_a_quiet_room_is_never_a_dead_microphone() -> None:
    quiet = recording("quiet_room.flac")  # about -68 dBFS
    health = MicrophoneHealth(RATE, dead_after_s=5.0)
    assert listen(health, np.concatenate([quiet] * 3)) is None
    # The quietest room a 16-bit microphone can deliver: noise of a couple of converter steps.
    rng = np.random.default_rng(3)
    faint = (np.round(rng.normal(0.0, 1.5, RATE * 10)) * LSB).astype(np.float32)
    assert listen(MicrophoneHealth(RATE, dead_after_s=5.0), faint) is None
    fan = recording("fan_with_faint_cry.flac")
    assert listen(MicrophoneHealth(RATE, dead_after_s=5.0), fan) is None


def test_one_live_second_in_the_window_clears_the_fault_at_once() -> None:
    health = MicrophoneHealth(RATE, dead_after_s=5.0)
    assert listen(health, constant(0.0, 10.0)) is not None
    assert listen(health, recording("quiet_room.flac")[:RATE]) is None
    # ... and the input must be dead for a whole window again to be reported again.
    assert listen(health, constant(0.0, 4.0)) is None
    assert listen(health, constant(0.0, 1.0)) is not None


def test_gaps_of_silence_inside_real_audio_do_not_count() -> None:
    # A file replay puts seconds of exact zeros between files; a cry recording has some too.
    quiet = recording("quiet_room.flac")
    gappy = np.concatenate((quiet[: RATE * 3], constant(0.0, 3.0), quiet[: RATE * 3]))
    assert listen(MicrophoneHealth(RATE, dead_after_s=5.0), gappy) is None


def test_a_reopened_input_starts_a_new_window() -> None:
    health = MicrophoneHealth(RATE, dead_after_s=2.0)
    assert listen(health, constant(0.0, 2.0)) is not None
    health.reset()
    assert health.problem is None
    assert listen(health, constant(0.0, 1.5)) is None


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="dead_after_s"):
        MicrophoneHealth(RATE, dead_after_s=0.0)
