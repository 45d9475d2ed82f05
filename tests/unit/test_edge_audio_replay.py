"""FileReplaySource: exact samples, chunking, gaps, looping, pacing on an injected clock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from edge.audio import AudioChunk, AudioSourceError, FileReplaySource
from models.cry.audio import load_audio

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
SPEECH_16K = AUDIO / "not_cry_speech_commands.flac"  # 16 kHz: read block by block
CRY_8K = AUDIO / "cry_donateacry.flac"  # 8 kHz: resampled whole with load_audio
RATE = 16_000

FloatArray = npt.NDArray[np.float32]


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _drain(source: FileReplaySource, limit: int = 100_000) -> list[AudioChunk]:
    chunks: list[AudioChunk] = []
    for _ in range(limit):
        chunk = source.read(1.0)
        if chunk is None:
            assert source.exhausted
            return chunks
        chunks.append(chunk)
    raise AssertionError("the replay never ended")


def _fast(
    files: list[Path], chunk_s: float = 0.1, loop: bool = False, gap_s: float = 0.0
) -> FileReplaySource:
    source = FileReplaySource(files, realtime=False, chunk_s=chunk_s, loop=loop, gap_s=gap_s)
    source.start()
    return source


def _joined(chunks: list[AudioChunk]) -> FloatArray:
    return np.concatenate([chunk.samples for chunk in chunks])


def test_a_16k_file_comes_out_sample_for_sample() -> None:
    expected, rate = soundfile.read(str(SPEECH_16K), dtype="float32")
    assert rate == RATE
    chunks = _drain(_fast([SPEECH_16K]))
    np.testing.assert_array_equal(_joined(chunks), expected)
    assert all(chunk.samples.dtype == np.float32 for chunk in chunks)


def test_an_8k_file_comes_out_resampled_like_load_audio() -> None:
    chunks = _drain(_fast([CRY_8K]))
    np.testing.assert_array_equal(_joined(chunks), load_audio(CRY_8K, RATE))


def test_chunks_have_chunk_s_samples_and_only_the_last_is_short() -> None:
    chunks = _drain(_fast([SPEECH_16K], chunk_s=0.15))  # 16000 = 6 * 2400 + 1600
    assert [len(chunk.samples) for chunk in chunks] == [2400] * 6 + [1600]


def test_stereo_file_longer_than_a_read_block_is_averaged_and_seamless(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    stereo = rng.uniform(-0.5, 0.5, size=(12 * RATE + 123, 2)).astype(np.float32)
    path = tmp_path / "stereo.wav"
    soundfile.write(str(path), stereo, RATE, subtype="FLOAT")
    chunks = _drain(_fast([path], chunk_s=0.3))
    np.testing.assert_allclose(_joined(chunks), stereo.mean(axis=1), atol=1e-7)
    assert {len(chunk.samples) for chunk in chunks[:-1]} == {4800}


def test_gap_puts_silence_between_files_and_not_after_the_last() -> None:
    speech, _ = soundfile.read(str(SPEECH_16K), dtype="float32")
    chunks = _drain(_fast([SPEECH_16K, CRY_8K], gap_s=0.5))
    expected = np.concatenate([speech, np.zeros(8000, np.float32), load_audio(CRY_8K, RATE)])
    np.testing.assert_array_equal(_joined(chunks), expected)


def test_loop_repeats_the_playlist_with_the_gap_and_never_ends() -> None:
    speech, _ = soundfile.read(str(SPEECH_16K), dtype="float32")
    source = _fast([SPEECH_16K], loop=True, gap_s=0.25, chunk_s=0.1)
    period = len(speech) + 4000
    chunks = [source.read(1.0) for _ in range(3 * period // 1600 + 1)]
    assert all(chunk is not None for chunk in chunks)
    assert not source.exhausted
    stream = np.concatenate([chunk.samples for chunk in chunks if chunk is not None])
    one_pass = np.concatenate([speech, np.zeros(4000, np.float32)])
    np.testing.assert_array_equal(stream[: 3 * period], np.tile(one_pass, 3))


def test_fast_mode_never_sleeps() -> None:
    fake = FakeTime()
    source = FileReplaySource(
        [CRY_8K, CRY_8K], realtime=False, gap_s=2.0, clock=fake.clock, sleep=fake.sleep
    )
    source.start()
    began = time.monotonic()
    chunks = _drain(source)
    assert fake.sleeps == []
    assert len(_joined(chunks)) == 2 * len(load_audio(CRY_8K, RATE)) + 2 * RATE
    assert time.monotonic() - began < 5.0  # ~16 s of audio; in practice milliseconds


def test_realtime_releases_each_chunk_when_its_last_sample_is_due() -> None:
    fake = FakeTime()
    source = FileReplaySource([SPEECH_16K], chunk_s=0.1, clock=fake.clock, sleep=fake.sleep)
    source.start()
    chunks = _drain(source)
    assert len(chunks) == 10
    for index, chunk in enumerate(chunks, start=1):
        assert chunk.captured_at == pytest.approx(100.0 + 0.1 * index)
    assert fake.now == pytest.approx(101.0)  # one second of audio took one second


def test_realtime_read_returns_none_when_the_chunk_is_not_due_within_the_timeout() -> None:
    fake = FakeTime()
    source = FileReplaySource([SPEECH_16K], chunk_s=0.5, clock=fake.clock, sleep=fake.sleep)
    source.start()
    assert source.read(0.2) is None
    assert fake.now == pytest.approx(100.2)
    assert not source.exhausted
    chunk = source.read(0.5)
    assert chunk is not None
    assert fake.now == pytest.approx(100.5)
    assert len(chunk.samples) == 8000


def test_a_late_reader_gets_the_backlog_at_once() -> None:
    fake = FakeTime()
    source = FileReplaySource([SPEECH_16K], chunk_s=0.1, clock=fake.clock, sleep=fake.sleep)
    source.start()
    fake.now += 0.35  # the detector was busy
    for _ in range(3):
        assert source.read(0.0) is not None
    assert source.read(0.0) is None  # the fourth ends at 0.4 s
    assert fake.sleeps == [0.0]


def test_close_interrupts_a_paced_read() -> None:
    source = FileReplaySource([SPEECH_16K], chunk_s=1.0)  # first chunk due in one second
    source.start()
    results: list[AudioChunk | None] = []
    reader = threading.Thread(target=lambda: results.append(source.read(30.0)))
    began = time.monotonic()
    reader.start()
    time.sleep(0.05)
    source.close()
    reader.join(timeout=5.0)
    assert results == [None]
    assert time.monotonic() - began < 0.9


def test_start_after_close_begins_again_at_the_first_file() -> None:
    source = _fast([SPEECH_16K], chunk_s=0.5)
    first = source.read(1.0)
    source.close()
    assert source.read(1.0) is None  # not running
    source.start()
    again = source.read(1.0)
    assert first is not None
    assert again is not None
    np.testing.assert_array_equal(first.samples, again.samples)
    assert source.stats().chunks == 2
    assert source.stats().samples == 16_000


def test_a_missing_file_is_named_at_construction(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_night.wav"
    with pytest.raises(AudioSourceError) as refused:
        FileReplaySource([SPEECH_16K, missing])
    assert str(refused.value) == f"no such file: {missing}"  # not libsndfile's "System error"


def test_an_unreadable_file_is_named_at_construction(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio")
    with pytest.raises(AudioSourceError, match=r"notes\.wav"):
        FileReplaySource([bogus])


def test_an_empty_playlist_is_refused() -> None:
    with pytest.raises(AudioSourceError, match="no audio files"):
        FileReplaySource([])


def test_a_file_that_vanishes_mid_replay_is_an_error_and_counted(tmp_path: Path) -> None:
    copy = tmp_path / "copy.flac"
    copy.write_bytes(SPEECH_16K.read_bytes())
    source = _fast([SPEECH_16K, copy])
    copy.unlink()
    with pytest.raises(AudioSourceError, match=r"copy\.flac"):
        _drain(source)
    stats = source.stats()
    assert stats.errors == 1
    assert stats.last_error is not None
    assert "copy.flac" in stats.last_error
    assert not source.exhausted
