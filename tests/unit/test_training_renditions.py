"""Renditions: a sound put through a condition (bed at an SNR, room, level) for stage two."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile

from models.training.field_report import snr_of
from models.training.renditions import (
    AMBIENCE_SPLITS,
    FRAME,
    RATE,
    ConditionParams,
    Rendition,
    active_power,
    active_ranges,
    load_ambience,
    render,
    set_level,
)
from models.training.rooms import RoomParams


def rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))


def bursts(seed: int = 0) -> np.ndarray:
    """Two 0.4 s bursts of noise with silence around them: its pauses are not the sound."""
    sound = np.zeros(2 * RATE, dtype=np.float32)
    noise = np.random.default_rng(seed).standard_normal(2 * RATE).astype(np.float32)
    sound[4_000:10_400] = noise[4_000:10_400]
    sound[20_000:26_400] = 0.5 * noise[20_000:26_400]
    return sound


def test_active_power_is_the_power_of_the_sound_not_of_its_pauses() -> None:
    sound = bursts()
    burst = np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    expected = (np.mean(sound[4_000:10_400] ** 2) + np.mean(sound[20_000:26_400] ** 2)) / 2
    assert abs(active_power(sound) / expected - 1.0) < 0.05
    assert active_power(sound) > 2.0 * float(np.mean(sound**2))  # the pauses would halve it
    assert abs(active_power(burst) - float(np.mean(burst.astype(np.float64) ** 2))) < 1e-3
    # Frames far under the loudest (here 40 dB) are left out.
    quiet_tail = np.concatenate([burst, 0.01 * burst])
    assert abs(active_power(quiet_tail) / active_power(burst) - 1.0) < 0.01


def test_active_ranges_mark_the_loud_frames_from_the_offset() -> None:
    sound = np.zeros(RATE, dtype=np.float32)
    sound[3 * FRAME : 7 * FRAME] = 1.0
    sound[12 * FRAME : 13 * FRAME] = 0.2  # 14 dB under: still the sound
    sound[16 * FRAME : 17 * FRAME] = 0.05  # 26 dB under: not
    ranges = active_ranges(sound, offset=100)
    starts = [start - 100 for start, _ in ranges]
    assert starts == [i * FRAME for i in (3, 4, 5, 6, 12)]
    assert all(end - start == FRAME for start, end in ranges)
    short = np.ones(FRAME - 1, dtype=np.float32)
    assert active_ranges(short, 5) == ((5, 5 + FRAME - 1),)


def test_set_level_hits_the_rms_level_or_limits_the_peak() -> None:
    noise = np.random.default_rng(2).standard_normal(RATE).astype(np.float32)
    for level in (-45.0, -30.0, -20.0):
        leveled = set_level(noise, level)
        assert abs(20 * np.log10(rms(leveled)) - level) < 0.01
    click = np.zeros(RATE, dtype=np.float32)
    click[10] = 1.0  # a peak 42 dB over its RMS: -12 dBFS would clip it
    limited = set_level(click, -12.0)
    assert abs(float(np.max(np.abs(limited))) - 0.99) < 1e-6
    assert 20 * np.log10(rms(limited)) < -12.0
    assert not set_level(np.zeros(100, dtype=np.float32), -20.0).any()


def separate(mixed: np.ndarray, placed: np.ndarray) -> tuple[float, np.ndarray]:
    """The gain the sound came out at and what else is in ``mixed`` (the bed)."""
    gain = float(np.dot(mixed, placed) / np.dot(placed, placed))
    return gain, mixed - gain * placed


def test_a_bed_at_a_requested_snr_is_that_far_under_the_sound_where_it_sounds() -> None:
    sound = bursts()
    params = ConditionParams()
    pad = int(params.pad_s * RATE)
    placed = np.concatenate([np.zeros(pad), sound, np.zeros(pad)]).astype(np.float32)
    for snr in (-5.0, 0.0, 10.0, 20.0):
        for kind in ("white", "pink", "fan"):
            mixed, condition, active = render(
                sound, True, np.random.default_rng(3), params, [], kind=kind, snr_db=snr, room=False
            )
            assert mixed.shape == placed.shape
            gain, bed = separate(mixed, placed)
            measured = 10 * np.log10(gain**2 * active_power(sound) / np.mean(bed**2))
            assert abs(measured - snr) < 0.5, (kind, snr, measured)
            assert condition == f"{kind} {snr:+.0f} dB"
            assert active == active_ranges(sound, pad)


def test_a_rendition_is_levelled_within_the_condition_range() -> None:
    params = ConditionParams()
    for seed in range(5):
        mixed, _, _ = render(bursts(), True, np.random.default_rng(seed), params, [])
        low, high = params.level_dbfs_range
        assert low - 0.01 <= 20 * np.log10(rms(mixed)) <= high + 0.01
        assert float(np.max(np.abs(mixed))) <= 0.99 + 1e-6


def test_the_condition_label_is_what_the_report_reads_the_snr_from() -> None:
    sound = bursts()
    params = ConditionParams(room=RoomParams(reverb_probability=1.0))

    def label(kind: str, snr_db: float, room: bool) -> str:
        _, condition, active = render(
            sound, True, np.random.default_rng(4), params, [], kind=kind, snr_db=snr_db, room=room
        )
        assert ("reverb" in condition) == room
        return snr_of(Rendition(np.zeros(1, np.float32), True, "s", condition, "c", active))

    assert label("white", -5.0, room=False) == "-5 dB"
    assert label("hum", 0.0, room=True) == "+0 dB"  # a room's own label comes after the bed's
    assert label("ambience", 20.0, room=True) == "+20 dB"
    clean = ConditionParams(clean_probability=1.0)
    _, condition, _ = render(sound, True, np.random.default_rng(4), clean, [], room=False)
    assert condition == "clean"
    assert snr_of(Rendition(sound, True, "s", condition, "c")) == "clean"


def test_a_render_is_reproducible_for_a_seed() -> None:
    params = ConditionParams()
    for seed in range(4):
        first = render(bursts(), True, np.random.default_rng(seed), params, [])
        second = render(bursts(), True, np.random.default_rng(seed), params, [])
        np.testing.assert_array_equal(first[0], second[0])
        assert first[1:] == second[1:]


def write_ambience(folder: Path, rows: list[tuple[str, str, float]]) -> None:
    """Tiny FLAC ambience recordings, each a constant whose value names it."""
    with (folder / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "kind", "sample_rate", "duration_s", "source", "license"])
        for path, kind, value in rows:
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(folder / path, np.full(1_600, value, dtype=np.float32), RATE)
            writer.writerow([path, kind, RATE, 0.1, "test", "test"])


def test_ambience_files_go_to_one_split_each(tmp_path: Path) -> None:
    test_name, validation_name = AMBIENCE_SPLITS["test"][0], AMBIENCE_SPLITS["validation"][0]
    write_ambience(
        tmp_path,
        [
            (f"{test_name}.flac", "anything", 0.1),  # claimed by its file name
            ("hall-2.flac", AMBIENCE_SPLITS["test"][1], 0.2),  # claimed by its kind
            (f"{validation_name}.flac", "rain", 0.3),
            ("x/kitchen-1.flac", "kitchen", 0.4),  # nobody claims it: training's
            ("fan-7.flac", "fan", 0.5),
        ],
    )
    values = {
        split: sorted(round(float(audio[0]), 2) for audio in load_ambience(tmp_path, split))
        for split in ("train", "validation", "test")
    }
    assert values == {"test": [0.1, 0.2], "validation": [0.3], "train": [0.4, 0.5]}


def test_no_ambience_recording_is_claimed_by_both_held_out_splits() -> None:
    assert not set(AMBIENCE_SPLITS["test"]) & set(AMBIENCE_SPLITS["validation"])
