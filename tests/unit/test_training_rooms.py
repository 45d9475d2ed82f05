"""Rooms and microphones in the stage-two training renditions: reverberation, distance, clipping."""

from __future__ import annotations

import numpy as np

from models.training.rooms import (
    RoomParams,
    apply_home_room,
    apply_room,
    clip_peaks,
    draw_home_room,
    far_field,
    reverberate,
    synth_rir,
)

RATE = 16_000
GAP = int(0.002 * RATE)  # the impulse response's gap between direct sound and tail


def tone(hz: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.sin(2 * np.pi * hz * t).astype(np.float32)


def rms(signal: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))


def test_an_impulse_response_decays_60_db_over_its_rt60() -> None:
    for rt60 in (0.3, 0.6):
        rir = synth_rir(rt60, RATE, np.random.default_rng(1), direct_ratio_db=0.0)
        tail = rir[1 + GAP :].astype(np.float64)
        frame = int(0.01 * RATE)
        n = len(tail) // frame
        energy_db = 10 * np.log10(np.mean(tail[: n * frame].reshape(n, frame) ** 2, axis=1))
        times = (np.arange(n) + 0.5) * frame / RATE
        slope_db_per_s = np.polyfit(times, energy_db, 1)[0]
        # The amplitude falls by 1000 over rt60: energy by 60 dB.
        assert abs(slope_db_per_s * rt60 + 60.0) < 5.0, slope_db_per_s * rt60


def test_an_impulse_response_has_a_unit_direct_path_and_the_asked_direct_to_tail_ratio() -> None:
    for ratio_db in (-6.0, 0.0, 6.0):
        rir = synth_rir(0.4, RATE, np.random.default_rng(2), direct_ratio_db=ratio_db)
        assert rir[0] == 1.0
        assert not rir[1 : 1 + GAP].any()
        tail_energy = float(np.sum(rir[1 + GAP :].astype(np.float64) ** 2))
        assert abs(10 * np.log10(1.0 / tail_energy) - ratio_db) < 0.01


def test_reverberation_keeps_the_length_and_smears_a_click_into_a_tail() -> None:
    click = np.zeros(RATE, dtype=np.float32)
    click[1000] = 1.0
    rir = synth_rir(0.5, RATE, np.random.default_rng(3), direct_ratio_db=0.0)
    wet = reverberate(click, rir)
    assert wet.shape == click.shape
    assert wet.dtype == np.float32
    assert abs(float(wet[1000]) - 1.0) < 1e-5  # the direct path
    assert float(np.max(np.abs(wet[:1000]))) < 1e-6  # nothing before the sound (FFT round-off)
    assert rms(wet[1000 + 2 * GAP : 1000 + int(0.2 * RATE)]) > 0.01  # the room after it
    # A response longer than the clip is cut at the clip's end, not appended.
    assert reverberate(click[:500], rir).shape == (500,)


def test_far_field_rolls_off_highs_and_keeps_lows() -> None:
    cutoff = 2000.0
    low, high = tone(500.0), tone(6000.0)
    low_gain = rms(far_field(low, RATE, cutoff)) / rms(low)
    high_gain = rms(far_field(high, RATE, cutoff)) / rms(high)
    assert low_gain > 0.95
    assert abs(20 * np.log10(high_gain) + 10.0) < 0.5  # 1 / sqrt(1 + 3**2): -10 dB
    assert far_field(low, RATE, cutoff).shape == low.shape


def test_clipping_bounds_the_peaks_and_leaves_the_rest() -> None:
    signal = tone(300.0)
    clipped = clip_peaks(signal, 0.5)
    assert float(np.max(np.abs(clipped))) <= 0.5
    quiet = np.abs(signal) < 0.5
    np.testing.assert_array_equal(clipped[quiet], signal[quiet])
    assert np.all(clipped[signal >= 0.5] == np.float32(0.5))
    assert np.all(clipped[signal <= -0.5] == np.float32(-0.5))


def test_a_room_is_reproducible_for_a_seed_and_keeps_the_length() -> None:
    signal = np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    params = RoomParams(reverb_probability=0.7, far_field_probability=0.7)
    outputs = []
    for seed in range(6):
        first = apply_room(signal, RATE, params, np.random.default_rng(seed))
        second = apply_room(signal, RATE, params, np.random.default_rng(seed))
        np.testing.assert_array_equal(first[0], second[0])
        assert first[1] == second[1]
        assert first[0].shape == signal.shape
        outputs.append(first)
    assert len({tuple(done) for _, done in outputs}) > 1  # seeds do differ


def test_a_room_does_what_its_label_says() -> None:
    signal = np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    untouched, done = apply_room(
        signal,
        RATE,
        RoomParams(reverb_probability=0.0, far_field_probability=0.0, clipping_probability=0.0),
        np.random.default_rng(1),
    )
    np.testing.assert_array_equal(untouched, signal)
    assert done == []
    everything = RoomParams(
        reverb_probability=1.0, far_field_probability=1.0, clipping_probability=1.0
    )
    out, done = apply_room(signal, RATE, everything, np.random.default_rng(1))
    assert [step.split(" ")[0] for step in done] == ["reverb", "far", "clipped"]
    assert float(np.max(np.abs(out))) < float(np.max(np.abs(signal)))


ALWAYS = RoomParams(reverb_probability=1.0, far_field_probability=1.0, clipping_probability=0.0)


def _click_response(home_seed: int, placement_seed: int, params: RoomParams = ALWAYS) -> np.ndarray:
    home = draw_home_room(RATE, params, np.random.default_rng(home_seed))
    click = np.zeros(RATE, dtype=np.float32)
    click[0] = 1.0
    return apply_home_room(click, RATE, home, params, np.random.default_rng(placement_seed))


def test_a_home_room_is_drawn_once_and_shared_by_every_placement() -> None:
    home = draw_home_room(RATE, ALWAYS, np.random.default_rng(3))
    again = draw_home_room(RATE, ALWAYS, np.random.default_rng(3))
    assert (home.rt60_s, home.cutoff_hz) == (again.rt60_s, again.cutoff_hz)
    np.testing.assert_array_equal(home.tail, again.tail)  # seeded
    assert home.rt60_s is not None
    assert home.cutoff_hz is not None
    assert abs(float(np.sum(home.tail.astype(np.float64) ** 2)) - 1.0) < 1e-3
    # Two placements in the same home: the same tail, only its level (the distance) differs.
    near, far = _click_response(3, 10), _click_response(3, 11)
    window = slice(GAP + 40, RATE // 4)  # the tail, clear of the direct click and of the wrap
    tail_near, tail_far = near[window], far[window]
    assert cosine(tail_near, tail_far) > 0.99
    assert abs(rms(tail_far) / rms(tail_near) - 1.0) > 0.01  # ... at a level of its own
    # Another home: another tail, not a rescaled copy of this one.
    assert abs(cosine(_click_response(4, 10)[window], tail_near)) < 0.5


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_a_dry_home_without_a_roll_off_leaves_the_sound_as_it_is() -> None:
    dry = RoomParams(reverb_probability=0.0, far_field_probability=0.0)
    home = draw_home_room(RATE, dry, np.random.default_rng(0))
    assert home.rt60_s is None
    assert home.cutoff_hz is None
    signal = tone(440.0)
    np.testing.assert_array_equal(
        apply_home_room(signal, RATE, home, dry, np.random.default_rng(1)), signal
    )
