"""The loud-sound fallback: one event per sustained loud spell, dips tolerated, no storms."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile

from edge.detection import BlockLevelSplitter, LoudSound, LoudSoundDetector
from edge.detection.loud_sound import MIN_COOLDOWN_S
from models.contract import DeviceSettings

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
RATE = 16_000
LOUD, QUIET = -15.0, -50.0  # block levels either side of the default -25 dBFS
BLOCKS_PER_S = 10
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def detector(**settings: float | bool) -> LoudSoundDetector:
    return LoudSoundDetector(DeviceSettings.model_validate(settings), RATE, wall_clock=lambda: NOW)


def seconds(level: float, duration_s: float) -> list[float]:
    return [level] * round(duration_s * BLOCKS_PER_S)


def feed(loud: LoudSoundDetector, *stretches: Iterable[float]) -> list[LoudSound]:
    sounds = []
    for stretch in stretches:
        sounds += loud.feed_levels(stretch)
    return sounds


def test_the_defaults_are_the_documented_ones() -> None:
    settings = DeviceSettings()
    assert (settings.loud_sound_enabled, settings.loud_sound_dbfs, settings.loud_sound_s) == (
        True,
        -25.0,
        5.0,
    )


def test_a_steady_loud_sound_is_reported_once_after_loud_sound_s() -> None:
    loud = detector()
    assert feed(loud, seconds(QUIET, 3.0), seconds(LOUD, 4.9)) == []
    [sound] = feed(loud, seconds(LOUD, 0.1))
    assert sound.onset_s == pytest.approx(3.0)
    assert sound.detected_s == pytest.approx(8.0)
    assert sound.duration_s == pytest.approx(5.0)
    assert sound.level_dbfs == LOUD
    # Ten more minutes of the same sound: still that one event.
    assert feed(loud, seconds(LOUD, 600.0)) == []


def test_a_sound_shorter_than_loud_sound_s_or_below_the_level_is_not_reported() -> None:
    loud = detector()
    assert feed(loud, seconds(LOUD, 4.5), seconds(QUIET, 30.0)) == []
    assert feed(loud, seconds(-26.0, 60.0)) == []  # just under the -25 dBFS default
    assert feed(loud, seconds(LOUD, 4.5), seconds(QUIET, 3.0), seconds(LOUD, 4.5)) == []


def test_a_short_dip_does_not_restart_the_count() -> None:
    loud = detector()
    [sound] = feed(loud, seconds(LOUD, 3.0), seconds(QUIET, 0.5), seconds(LOUD, 2.0))
    assert sound.onset_s == 0.0
    assert sound.duration_s == pytest.approx(5.0)


def test_breaths_do_not_break_a_spell_but_a_sound_that_is_mostly_quiet_is_no_spell() -> None:
    crying = [LOUD, LOUD, LOUD, QUIET] * 20  # 0.3 s cries, 0.1 s breaths: 75 % loud
    [sound] = detector().feed_levels(crying)
    assert sound.level_dbfs == LOUD
    assert sound.duration_s == pytest.approx(5.0)
    barking = [LOUD, QUIET] * 100  # 50 % loud for 20 s
    assert detector().feed_levels(barking) == []


def test_the_level_reported_is_the_median_of_the_loud_blocks() -> None:
    levels = [-20.0, -10.0, -12.0, QUIET, -11.0] * 10
    [sound] = detector().feed_levels(levels)
    assert sound.level_dbfs == -11.5  # between -12 and -11; the quiet blocks play no part


def test_after_a_spell_the_next_one_waits_for_the_cooldown_and_is_then_reported() -> None:
    loud = detector()
    [first] = feed(loud, seconds(LOUD, 20.0))
    # The spell ends once fewer than a third of the last 5 s were loud: 3.4 s into the quiet.
    ended_at = 20.0 + 3.4
    # Loud again 10 s later, for 2 minutes: due at once, but within the cooldown.
    due_at = ended_at + MIN_COOLDOWN_S
    assert feed(loud, seconds(QUIET, 10.0), seconds(LOUD, due_at - 30.0 - 0.1)) == []
    [second] = feed(loud, seconds(LOUD, 0.1))
    assert second.detected_s == pytest.approx(due_at)
    assert second.onset_s == pytest.approx(30.0)  # the true onset, not the end of the cooldown
    assert second.duration_s > 50.0
    assert first.onset_s == 0.0


def test_spells_that_come_and_go_within_the_cooldown_never_storm() -> None:
    loud = detector()
    pattern = seconds(LOUD, 6.0) + seconds(QUIET, 6.0)  # a new spell every 12 s
    sounds = feed(loud, pattern * 50)  # ten minutes
    gaps = [b.detected_s - a.detected_s for a, b in itertools.pairwise(sounds)]
    assert 5 <= len(sounds) <= 10
    assert min(gaps) >= MIN_COOLDOWN_S


def test_a_longer_cry_cooldown_applies_to_loud_sounds_too() -> None:
    loud = detector(cry_cooldown_s=300.0)
    assert len(feed(loud, seconds(LOUD, 10.0))) == 1
    assert feed(loud, seconds(QUIET, 10.0), seconds(LOUD, 200.0)) == []
    assert len(feed(loud, seconds(LOUD, 120.0))) == 1


def test_settings_apply_live_to_the_sound_going_on() -> None:
    loud = detector(loud_sound_enabled=False)
    assert feed(loud, seconds(LOUD, 30.0)) == []

    loud.update_settings(DeviceSettings(loud_sound_enabled=True, loud_sound_s=2.0))
    assert loud.process(np.zeros(0, dtype=np.float32)) == []  # picks the settings up
    [sound] = feed(loud, seconds(-20.0, 2.0))
    assert sound.duration_s == pytest.approx(2.0)

    lower = detector(loud_sound_dbfs=-10.0)
    assert feed(lower, seconds(LOUD, 10.0)) == []
    lower.update_settings(DeviceSettings(loud_sound_dbfs=-20.0))
    lower.process(np.zeros(0, dtype=np.float32))
    # The last 5 s were already above the new level: reported with the next block.
    assert len(feed(lower, seconds(LOUD, 0.1))) == 1


def test_switching_off_drops_a_spell_in_progress() -> None:
    loud = detector()
    feed(loud, seconds(LOUD, 4.0))
    loud.update_settings(DeviceSettings(loud_sound_enabled=False))
    loud.process(np.zeros(0, dtype=np.float32))
    loud.update_settings(DeviceSettings())
    loud.process(np.zeros(0, dtype=np.float32))
    assert feed(loud, seconds(LOUD, 4.0)) == []  # a fresh start: 4 s is not 5 s


def test_block_levels_are_the_rms_of_each_100_ms_block_whatever_the_chunks() -> None:
    splitter = BlockLevelSplitter(RATE)
    tone = (0.1 * np.sqrt(2) * np.sin(2 * np.pi * 500 * np.arange(RATE) / RATE)).astype(np.float32)
    levels = []
    for chunk in np.array_split(tone, 7):
        levels += splitter.add(chunk)
    assert len(levels) == 10
    assert levels == pytest.approx([-20.0] * 10, abs=0.01)
    assert splitter.add(np.zeros(1600, dtype=np.float32)) == [-120.0]


def test_samples_become_a_wall_clock_event_at_the_onset() -> None:
    loud = detector()
    noise = np.random.default_rng(1).standard_normal(RATE * 7).astype(np.float32) * 0.1
    audio = np.concatenate((np.zeros(RATE, dtype=np.float32), noise))  # -20 dBFS from 1 s on
    found = []
    for start in range(0, len(audio), 1600):
        found += loud.process(audio[start : start + 1600])
    [timed] = found
    assert timed.sound.onset_s == pytest.approx(1.0)
    assert timed.sound.level_dbfs == pytest.approx(-20.0, abs=0.3)
    # Returned with the block that completed 5 s of sound, so NOW is 5 s after the onset.
    assert timed.occurred_at == NOW - timedelta(seconds=5.0)


def _file_levels(name: str) -> list[float]:
    samples, rate = soundfile.read(str(AUDIO / name), dtype="float32")
    assert rate == RATE
    return BlockLevelSplitter(RATE).add(samples)


def test_the_fan_clip_raises_one_loud_sound_and_the_plain_cry_clip_none() -> None:
    [sound] = detector().feed_levels(_file_levels("fan_with_faint_cry.flac"))
    assert sound.onset_s < 1.0  # the fan is loud from its first half second
    assert -20.0 < sound.level_dbfs < -16.0
    # A real cry recording alone: loud in bursts, never 5 s on end at -25 dBFS.
    cry = BlockLevelSplitter(RATE).add(_cry_at_model_rate())
    assert detector().feed_levels(cry) == []
    assert detector().feed_levels(_file_levels("quiet_room.flac")) == []


def _cry_at_model_rate() -> np.ndarray:
    from models.cry import load_audio

    return load_audio(AUDIO / "cry_donateacry.flac", RATE)
