"""The detector's streaming path (daemon) and whole-clip path (cloud) agree, on the real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.cry import CryDetector, WindowScore, load_audio

AUDIO_DIR = Path(__file__).resolve().parents[1] / "data" / "audio"
CRY_CLIP = AUDIO_DIR / "cry_donateacry.flac"
NOT_CRY_CLIP = AUDIO_DIR / "not_cry_speech_commands.flac"


@pytest.fixture(scope="module")
def detector() -> CryDetector:
    return CryDetector.from_manifest()


def streamed_windows(detector: CryDetector, audio: np.ndarray, chunk: int) -> list[WindowScore]:
    seen: list[WindowScore] = []
    detector.on_window = seen.append
    detector.reset()
    try:
        for start in range(0, len(audio), chunk):
            detector.feed(audio[start : start + chunk])
    finally:
        detector.on_window = None
    return seen


@pytest.mark.parametrize("chunk", [1_000, 1_600, 4_000, 16_000, 160_000])
def test_streaming_scores_equal_whole_clip_scores(detector: CryDetector, chunk: int) -> None:
    audio = load_audio(CRY_CLIP, detector.sample_rate)
    whole = detector.window_scores(audio)
    streamed = streamed_windows(detector, audio, chunk)
    assert len(streamed) == len(whole) > 10
    for a, b in zip(streamed, whole, strict=True):
        assert a.start_s == pytest.approx(b.start_s)
        assert a.score == pytest.approx(b.score, abs=1e-6)
        assert a.level_dbfs == pytest.approx(b.level_dbfs, abs=1e-3)


def test_committed_cry_clip_is_a_cry_and_speech_is_not(detector: CryDetector) -> None:
    cry = detector.score_file(CRY_CLIP)
    assert cry.is_cry
    assert cry.max_score >= detector.hysteresis.on_threshold
    assert len(cry.episodes) == 1
    speech = detector.score_file(NOT_CRY_CLIP)
    assert not speech.is_cry
    assert speech.episodes == []


def test_short_clips_are_padded_to_one_window(detector: CryDetector) -> None:
    analysis = detector.analyze(np.zeros(800, dtype=np.float32), 8_000)
    assert len(analysis.window_scores) == 1
    assert not analysis.is_cry
    assert analysis.duration_s == pytest.approx(0.1)


def test_levels_are_reported_in_dbfs(detector: CryDetector) -> None:
    rate = detector.sample_rate
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate)).astype(np.float32)
    levels = [w.level_dbfs for w in detector.window_scores(tone)]
    assert levels == pytest.approx([20 * np.log10(0.1 / np.sqrt(2))] * len(levels), abs=0.1)
