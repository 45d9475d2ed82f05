"""Uploaded audio: real files in every supported format, sniffed, stored and decoded.

The files are encoded here from a known signal (libsndfile for WAV/FLAC/OGG/MP3, FFmpeg's AAC
encoder through PyAV for M4A), so the tests check what a phone's upload goes through: the format
is found from the bytes, the file lands under a generated 0600 name, and the decoded samples
still carry the 440 Hz tone for exactly one second.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import stat
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from cloud.uploads import (
    SUPPORTED_FORMATS,
    AudioFormat,
    AudioStore,
    AudioTooLongError,
    CorruptAudioError,
    EmptyUploadError,
    StoredAudio,
    UnsupportedAudioError,
    UploadError,
    UploadTooLargeError,
    decode_audio,
    sniff_audio_format,
)
from cloud.uploads.formats import SNIFF_BYTES

FloatArray = npt.NDArray[np.float32]

MODEL_RATE = 16_000
TONE_HZ = 440.0
MIB = 1024 * 1024

# kind -> (libsndfile major format, subtype) or None for AAC through PyAV; and the sniffed format
ENCODINGS: dict[str, tuple[tuple[str, str] | None, AudioFormat]] = {
    "wav": (("WAV", "PCM_16"), AudioFormat.WAV),
    "rf64": (("RF64", "PCM_16"), AudioFormat.WAV),
    "flac": (("FLAC", "PCM_16"), AudioFormat.FLAC),
    "ogg-vorbis": (("OGG", "VORBIS"), AudioFormat.OGG),
    "ogg-opus": (("OGG", "OPUS"), AudioFormat.OGG),
    "mp3": (("MP3", "MPEG_LAYER_III"), AudioFormat.MP3),
    "m4a": (None, AudioFormat.M4A),
}
LOSSLESS = {"wav", "rf64", "flac"}


def sine(rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> FloatArray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def write_m4a(path: Path, samples: FloatArray, rate: int) -> None:
    """AAC in an MP4 container, as phones record it."""
    planar = samples[None, :] if samples.ndim == 1 else samples.T
    layout = "mono" if planar.shape[0] == 1 else "stereo"
    with av.open(str(path), "w", format="ipod") as container:
        stream = container.add_stream("aac", rate=rate, layout=layout)
        for start in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planar[:, start : start + 1024]), format="fltp", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def encode(path: Path, kind: str, samples: FloatArray, rate: int) -> bytes:
    libsndfile, _ = ENCODINGS[kind]
    if libsndfile is None:
        write_m4a(path, samples, rate)
    else:
        major, subtype = libsndfile
        soundfile.write(str(path), samples, rate, format=major, subtype=subtype)
    return path.read_bytes()


def peak_hz(samples: FloatArray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum)) * rate / samples.size


def rms(samples: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class Reader:
    """An ``UploadFile``-like object that counts how much the store pulled from it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.bytes_read = 0

    async def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.bytes_read + size
        chunk = self.data[self.bytes_read : end]
        self.bytes_read += len(chunk)
        return chunk


def fixed_clock() -> datetime:
    return datetime(2025, 11, 13, 12, 0, 0, tzinfo=UTC)


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> AudioStore:
    return AudioStore(tmp_path / "uploads", max_bytes=5 * MIB, clock=fixed_clock)


# --- recognising the format from the bytes ---------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
def test_every_format_is_recognised_from_its_bytes_alone(tmp_path: Path, kind: str) -> None:
    data = encode(tmp_path / "clip", kind, sine(MODEL_RATE), MODEL_RATE)
    assert sniff_audio_format(data[:SNIFF_BYTES]) is ENCODINGS[kind][1]
    assert sniff_audio_format(data) is ENCODINGS[kind][1]  # shorter than SNIFF_BYTES for some


def test_an_id3_tagged_mp3_is_recognised_and_decodes(tmp_path: Path) -> None:
    mp3 = encode(tmp_path / "clip.mp3", "mp3", sine(MODEL_RATE), MODEL_RATE)
    frame = b"TIT2" + (6).to_bytes(4, "big") + b"\x00\x00" + b"\x03hello"
    tagged = b"ID3\x04\x00\x00" + len(frame).to_bytes(4, "big") + frame + mp3
    assert sniff_audio_format(tagged) is AudioFormat.MP3
    path = tmp_path / "tagged"
    path.write_bytes(tagged)
    decoded = decode_audio(path, AudioFormat.MP3, MODEL_RATE)
    assert decoded.duration_s == pytest.approx(1.0, abs=0.005)


MP3_LIKE_NOISE = b"\xff\xfb\x90\x00" + bytes(SNIFF_BYTES)  # a valid header, then no next frame


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"Baby seems restless today. " * 200, "not a recognised audio file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "not a recognised audio file"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "not a recognised audio file"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "no audio brand"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "no audio brand"),
        (b"OggS\x00\x02" + bytes(20) + b"\x01\x2a\x80theora" + bytes(64), "neither Vorbis"),
        (MP3_LIKE_NOISE, "not a recognised audio file"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(64), "not a recognised audio file"),  # ADTS AAC
        (b"ID3 is not a tag", "not a recognised audio file"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "not a recognised audio file"),
    ],
    ids=["text", "png", "jpeg", "heic", "quicktime", "theora", "mp3-noise", "adts", "id3", "avi"],
)
def test_non_audio_content_is_refused_listing_the_supported_formats(
    head: bytes, reason: str
) -> None:
    with pytest.raises(UnsupportedAudioError) as refused:
        sniff_audio_format(head)
    assert reason in str(refused.value)
    assert "WAV, MP3, M4A, OGG, FLAC" in str(refused.value)
    assert SUPPORTED_FORMATS == "WAV, MP3, M4A, OGG, FLAC"
    assert isinstance(refused.value, UploadError)
    assert isinstance(refused.value, ValueError)


# --- storing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
async def test_each_format_is_stored_and_decodes_to_one_second_of_the_tone(
    tmp_path: Path, store: AudioStore, kind: str
) -> None:
    data = encode(tmp_path / "clip", kind, sine(MODEL_RATE), MODEL_RATE)
    # 1000-byte chunks: the sniffing window of 4096 bytes ends in the middle of a chunk.
    stored = await store.save(3, chunked(data, 1000))

    expected = ENCODINGS[kind][1]
    assert stored.format is expected
    assert stored.path.suffix == f".{expected.extension}"
    assert stored.size_bytes == len(data)
    assert stored.path.read_bytes() == data
    decoded = decode_audio(stored.path, stored.format, MODEL_RATE)
    assert decoded.sample_rate == decoded.original_rate == MODEL_RATE
    assert decoded.samples.dtype == np.float32
    assert decoded.samples.ndim == 1
    assert decoded.duration_s == pytest.approx(1.0, abs=0.005)
    assert decoded.samples.size == pytest.approx(MODEL_RATE, abs=80)
    assert peak_hz(decoded.samples, MODEL_RATE) == pytest.approx(TONE_HZ, abs=3)
    tolerance = 0.02 if kind in LOSSLESS else 0.1
    assert rms(decoded.samples) == pytest.approx(0.5 / np.sqrt(2), rel=tolerance)


@pytest.mark.parametrize("kind", ["wav", "flac", "ogg-vorbis", "mp3", "m4a"])
async def test_stereo_44k_is_mixed_to_mono_by_the_channel_mean_at_16k(
    tmp_path: Path, store: AudioStore, kind: str
) -> None:
    rate = 44_100
    stereo = np.stack([sine(rate, amplitude=0.6), sine(rate, amplitude=0.2)], axis=1)
    data = encode(tmp_path / "clip", kind, stereo, rate)
    stored = await store.save(3, chunked(data, 64 * 1024))
    decoded = decode_audio(stored.path, stored.format, MODEL_RATE)

    assert (decoded.original_rate, decoded.sample_rate) == (rate, MODEL_RATE)
    assert decoded.samples.ndim == 1
    assert decoded.duration_s == pytest.approx(1.0, abs=0.005)
    assert decoded.samples.size == pytest.approx(MODEL_RATE, abs=80)
    assert peak_hz(decoded.samples, MODEL_RATE) == pytest.approx(TONE_HZ, abs=3)
    # The mean of 0.6 and 0.2 is 0.4; a -3 dB pan law would give 0.57 and fail this.
    tolerance = 0.02 if kind in LOSSLESS else 0.1
    assert rms(decoded.samples) == pytest.approx(0.4 / np.sqrt(2), rel=tolerance)


async def test_the_content_decides_even_when_the_client_name_lies(
    tmp_path: Path, store: AudioStore
) -> None:
    liar = tmp_path / "baby_cry.wav"  # FLAC inside
    soundfile.write(str(liar), sine(MODEL_RATE), MODEL_RATE, format="FLAC")
    starlette = pytest.importorskip("starlette.datastructures")
    upload = starlette.UploadFile(file=io.BytesIO(liar.read_bytes()), filename="../../baby_cry.wav")

    stored = await store.save(7, upload)

    assert stored.format is AudioFormat.FLAC
    assert stored.path.suffix == ".flac"
    assert "baby_cry" not in stored.path.name
    assert stored.path.parent == store.directory


async def test_the_name_is_generated_and_the_file_is_private(tmp_path: Path) -> None:
    directory = tmp_path / "private" / "uploads"  # does not exist yet
    store = AudioStore(directory, max_bytes=MIB, clock=fixed_clock)
    data = encode(tmp_path / "clip", "wav", sine(MODEL_RATE), MODEL_RATE)

    first = await store.save(7, Reader(data))
    second = await store.save(7, Reader(data))

    pattern = r"audio_7_20251113_120000_[0-9a-f]{8}\.wav"
    assert re.fullmatch(pattern, first.path.name)
    assert re.fullmatch(pattern, second.path.name)
    assert first.path != second.path  # same user, same second: the random part differs
    assert first.relative_url == f"uploads/{first.path.name}"
    assert first.path.parent == directory
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert files_in(directory) == sorted([first.path.name, second.path.name])  # no .part left


async def test_an_existing_shared_directory_is_kept_but_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    store = AudioStore(directory, max_bytes=MIB)
    data = encode(tmp_path / "clip", "wav", sine(MODEL_RATE), MODEL_RATE)
    with caplog.at_level(logging.WARNING, logger="cloud.uploads.store"):
        await store.save(1, Reader(data))
    assert "accessible to other users" in caplog.text
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755


@pytest.mark.parametrize("source", ["reader", "iterator"])
async def test_an_oversized_upload_stops_early_and_leaves_nothing(
    tmp_path: Path, source: str
) -> None:
    store = AudioStore(tmp_path / "uploads", max_bytes=MIB, read_size=16 * 1024)
    data = encode(tmp_path / "long", "wav", sine(MODEL_RATE, seconds=60), MODEL_RATE)
    assert len(data) > 1.8 * MIB
    reader = Reader(data)
    pulled: list[int] = []

    async def counting() -> AsyncIterator[bytes]:
        async for chunk in chunked(data, 16 * 1024):
            pulled.append(len(chunk))
            yield chunk

    with pytest.raises(UploadTooLargeError, match="1 MB limit") as refused:
        await store.save(1, reader if source == "reader" else counting())

    assert refused.value.limit_bytes == MIB
    consumed = reader.bytes_read if source == "reader" else sum(pulled)
    assert MIB < consumed <= MIB + 16 * 1024
    assert files_in(store.directory) == []


async def test_an_upload_of_exactly_the_limit_is_accepted(tmp_path: Path) -> None:
    data = encode(tmp_path / "clip", "wav", sine(MODEL_RATE), MODEL_RATE)
    store = AudioStore(tmp_path / "uploads", max_bytes=len(data))
    stored = await store.save(1, Reader(data))
    assert stored.size_bytes == len(data)


async def test_non_audio_is_refused_after_the_first_bytes_and_not_kept(
    tmp_path: Path, store: AudioStore
) -> None:
    reader = Reader(b"<html><body>definitely not audio</body></html>" * 50_000)
    with pytest.raises(UnsupportedAudioError):
        await store.save(1, reader)
    assert reader.bytes_read <= SNIFF_BYTES + store.read_size
    assert files_in(store.directory) == []


@pytest.mark.parametrize("parts", [[], [b""], [b"", b""]])
async def test_an_empty_upload_is_refused(store: AudioStore, parts: list[bytes]) -> None:
    async def empty() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    with pytest.raises(EmptyUploadError):
        await store.save(1, empty())
    with pytest.raises(EmptyUploadError):
        await store.save(1, Reader(b""))
    assert files_in(store.directory) == []


async def test_a_broken_or_cancelled_upload_leaves_nothing(
    tmp_path: Path, store: AudioStore
) -> None:
    data = encode(tmp_path / "clip", "wav", sine(MODEL_RATE), MODEL_RATE)
    first_chunk_sent = asyncio.Event()

    async def disconnects() -> AsyncIterator[bytes]:
        yield data[:8192]
        raise ConnectionResetError("client went away")

    async def stalls() -> AsyncIterator[bytes]:
        yield data[:8192]
        first_chunk_sent.set()
        await asyncio.Event().wait()
        yield b""  # never reached

    with pytest.raises(ConnectionResetError):
        await store.save(1, disconnects())
    assert files_in(store.directory) == []

    task = asyncio.create_task(store.save(1, stalls()))
    await first_chunk_sent.wait()
    await asyncio.sleep(0.05)  # let the first chunk reach the partial file
    assert len(files_in(store.directory)) == 1  # the .part file exists while streaming
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_in(store.directory) == []


async def test_delete_removes_only_files_of_the_store(tmp_path: Path, store: AudioStore) -> None:
    data = encode(tmp_path / "clip", "wav", sine(MODEL_RATE), MODEL_RATE)
    stored = await store.save(1, Reader(data))
    outsider = tmp_path / "precious.txt"
    outsider.write_text("keep me")

    with pytest.raises(ValueError, match="not in the upload directory"):
        await store.delete(replace(stored, path=outsider))
    assert outsider.exists()

    await store.delete(stored)
    await store.delete(stored)  # already gone: fine
    assert files_in(store.directory) == []


@pytest.mark.parametrize("user_id", [-1, True])
async def test_a_bad_user_id_is_a_programming_error(store: AudioStore, user_id: int) -> None:
    with pytest.raises(ValueError, match="user_id") as refused:
        await store.save(user_id, Reader(b"RIFF"))
    assert not isinstance(refused.value, UploadError)


# --- decoding failures -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
def test_audio_longer_than_the_limit_is_refused_from_the_header(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "clip"
    encode(path, kind, sine(MODEL_RATE), MODEL_RATE)
    with pytest.raises(AudioTooLongError, match=r"0\.5 s limit") as refused:
        decode_audio(path, ENCODINGS[kind][1], MODEL_RATE, max_seconds=0.5)
    # duration_s is only known when the header stated it, i.e. before any decoding
    assert refused.value.duration_s == pytest.approx(1.0, abs=0.01)
    assert refused.value.max_seconds == 0.5


@pytest.mark.parametrize("kind", ["wav", "mp3", "m4a"])
def test_audio_of_unknown_length_is_cut_off_while_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    path = tmp_path / "clip"
    encode(path, kind, sine(MODEL_RATE, seconds=2), MODEL_RATE)
    # libsndfile's answer when it cannot tell a file's length: SF_COUNT_MAX frames.
    monkeypatch.setattr(soundfile.SoundFile, "frames", property(lambda self: 2**63 - 1))
    monkeypatch.setattr("cloud.uploads.decode._declared_frames", lambda stream, rate: None)
    fmt = ENCODINGS[kind][1]
    with pytest.raises(AudioTooLongError) as refused:
        decode_audio(path, fmt, MODEL_RATE, max_seconds=0.5)
    assert refused.value.duration_s is None  # found while decoding, not from the header
    assert decode_audio(path, fmt, MODEL_RATE, max_seconds=3).duration_s >= 2.0


async def test_a_truncated_wav_is_stored_then_refused_as_corrupt_and_deleted(
    tmp_path: Path, store: AudioStore
) -> None:
    data = encode(tmp_path / "clip", "wav", sine(MODEL_RATE), MODEL_RATE)
    stored = await store.save(1, Reader(data[:30]))  # RIFF....WAVE, cut inside the header
    assert stored.format is AudioFormat.WAV

    with pytest.raises(CorruptAudioError, match="data") as refused:
        decode_audio(stored.path, stored.format, MODEL_RATE)
    assert isinstance(refused.value.__cause__, soundfile.LibsndfileError)
    await store.delete(stored)
    assert files_in(store.directory) == []


@pytest.mark.parametrize(
    ("kind", "keep", "reason"),
    [
        ("wav", 44, "no samples"),  # a complete header announcing zero frames
        ("flac", 200, "decode"),
        ("m4a", 200, "decode"),
    ],
)
def test_broken_files_are_corrupt_audio(tmp_path: Path, kind: str, keep: int, reason: str) -> None:
    data = encode(tmp_path / "clip", kind, sine(MODEL_RATE), MODEL_RATE)
    path = tmp_path / "broken"
    path.write_bytes(data[:keep] if kind != "flac" else data[:keep] + bytes(64))
    fmt = ENCODINGS[kind][1]
    assert sniff_audio_format(path.read_bytes()) is fmt
    with pytest.raises(CorruptAudioError, match=reason):
        decode_audio(path, fmt, MODEL_RATE)


def test_absurd_sample_rates_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "slow.wav"
    soundfile.write(str(path), sine(1_000), 1_000, format="WAV")
    with pytest.raises(UnsupportedAudioError, match="1000 Hz"):
        decode_audio(path, AudioFormat.WAV, MODEL_RATE)


def test_stored_audio_is_a_frozen_value(tmp_path: Path) -> None:
    stored = StoredAudio(tmp_path / "a.wav", "uploads/a.wav", AudioFormat.WAV, 10)
    with pytest.raises(AttributeError):
        stored.size_bytes = 11  # type: ignore[misc]
    assert AudioFormat.M4A.extension == "m4a"
    assert [fmt.extension for fmt in AudioFormat] == ["wav", "mp3", "m4a", "ogg", "flac"]
