"""Log-mel front end: known signals land where they should; streaming equals whole-clip."""

from __future__ import annotations

import numpy as np
import pytest

from models.cry.features import (
    LogMelParams,
    StreamingLogMel,
    WindowParams,
    frame_count,
    log_mel,
    mel_filterbank,
    normalise_window,
    windows_from_log_mel,
)

PARAMS = LogMelParams()
RATE = PARAMS.sample_rate


def sine(freq_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def band_centres_hz(params: LogMelParams) -> np.ndarray:
    fft_hz = np.linspace(0, params.sample_rate / 2, params.n_fft // 2 + 1)
    return np.array([fft_hz[np.argmax(row)] for row in mel_filterbank(params)])


@pytest.mark.parametrize("freq_hz", [200.0, 440.0, 1000.0, 2500.0, 3500.0])
def test_sine_peaks_in_the_band_centred_on_its_frequency(freq_hz: float) -> None:
    frames = log_mel(sine(freq_hz, 0.5), PARAMS)
    expected_band = int(np.argmin(np.abs(band_centres_hz(PARAMS) - freq_hz)))
    peak_bands = np.argmax(frames, axis=1)
    assert np.all(np.abs(peak_bands - expected_band) <= 1)
    # The peak band is far above bands an octave away: energy stays where it belongs.
    assert np.all(frames[:, expected_band] - frames[:, expected_band // 2] > 30.0)


def test_energy_above_fmax_is_invisible() -> None:
    """A 6 kHz tone (only present in 16 kHz recordings) must not move the features."""
    out_of_band = log_mel(sine(6000.0, 0.5), PARAMS)
    in_band = log_mel(sine(3000.0, 0.5), PARAMS)
    # Only window side-lobe and rounding leakage remains: beyond the 80 dB window range.
    assert out_of_band.max() < in_band.max() - WindowParams().dynamic_range_db


def test_silence_sits_exactly_at_the_floor() -> None:
    frames = log_mel(np.zeros(RATE, dtype=np.float32), PARAMS)
    assert frames.shape == (frame_count(RATE, PARAMS), PARAMS.n_mels)
    assert np.all(frames == np.float32(PARAMS.floor_db))


def test_frame_count_and_short_input() -> None:
    assert log_mel(np.zeros(PARAMS.frame_length - 1, dtype=np.float32), PARAMS).shape == (0, 40)
    assert frame_count(PARAMS.frame_length, PARAMS) == 1
    assert frame_count(PARAMS.frame_length + PARAMS.hop_length, PARAMS) == 2


def test_rejects_multichannel_input() -> None:
    with pytest.raises(ValueError, match="mono"):
        log_mel(np.zeros((2, 1000), dtype=np.float32), PARAMS)


def test_invalid_params_are_refused() -> None:
    with pytest.raises(ValueError, match="fmax"):
        LogMelParams(fmax_hz=9000.0)


CHUNK_SIZES = [1, 7, 159, 160, 161, 399, 400, 401, 1000, 4096, RATE, 10 * RATE]


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_streaming_equals_whole_clip_for_any_chunk_size(chunk_size: int) -> None:
    rng = np.random.default_rng(chunk_size)
    seconds = 0.3 if chunk_size == 1 else 12.0  # 1-sample chunks are slow in pure Python
    clip = (rng.standard_normal(int(seconds * RATE)) * 0.1).astype(np.float32)
    stream = StreamingLogMel(PARAMS)
    rows = [stream.push(clip[i : i + chunk_size]) for i in range(0, len(clip), chunk_size)]
    streamed = np.concatenate(rows)
    whole = log_mel(clip, PARAMS)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-3)
    assert stream.frames_emitted == len(whole)


def test_streaming_with_irregular_chunks() -> None:
    rng = np.random.default_rng(3)
    clip = (rng.standard_normal(3 * RATE) * 0.1).astype(np.float32)
    cuts = np.sort(rng.choice(len(clip), size=50, replace=False))
    stream = StreamingLogMel(PARAMS)
    streamed = np.concatenate([stream.push(part) for part in np.split(clip, cuts)])
    np.testing.assert_allclose(streamed, log_mel(clip, PARAMS), atol=1e-3)


def test_window_normalisation_removes_gain() -> None:
    windows = WindowParams()
    clip = sine(700.0, 1.2) + (np.random.default_rng(0).standard_normal(int(1.2 * RATE)) * 0.01)
    quiet = windows_from_log_mel(log_mel(clip.astype(np.float32) * 0.01, PARAMS), windows)
    loud = windows_from_log_mel(log_mel(clip.astype(np.float32), PARAMS), windows)
    np.testing.assert_allclose(quiet, loud, atol=1e-3)
    assert loud.min() >= 0.0
    assert loud.max() == 1.0


def test_silent_window_normalises_to_a_constant() -> None:
    silent = np.full((98, 40), PARAMS.floor_db, dtype=np.float32)
    assert np.all(normalise_window(silent, WindowParams()) == 1.0)
