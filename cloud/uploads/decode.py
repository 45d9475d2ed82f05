"""Decode a stored upload to mono float32 samples at the cry model's rate.

CPU-bound and synchronous by design: the route runs ``decode_audio`` in a worker thread.

WAV, FLAC, OGG and MP3 go through libsndfile (``soundfile``; 1.1+ reads MP3). M4A (AAC) goes
through PyAV, imported lazily so that nothing but the upload path pays for FFmpeg. For both,
PyAV only converts the sample format: the downmix (a plain channel mean) and the resampling to
``target_rate`` (the polyphase filter) are ``models.cry.audio``'s, the same code every other file
and the training set go through. libswresample would do both in one call, but its default
downmix folds stereo to mono at -3 dB per channel (1.41x the mean) and its filter differs, so the
same recording would reach the detector with a different level depending on the container the
phone picked.

Memory stays bounded by the duration limit: files are read in blocks, each block is downmixed
at once, and reading stops as soon as the limit is passed, even when a header understated the
length. Where the header states the length, a too-long file is refused before decoding at all.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import soundfile

from cloud.uploads.errors import (
    AudioTooLongError,
    CorruptAudioError,
    UnsupportedAudioError,
    UploadError,
)
from cloud.uploads.formats import AudioFormat
from models.cry.audio import resample, to_mono

if TYPE_CHECKING:
    from av.audio.stream import AudioStream

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

DEFAULT_MAX_SECONDS = 600.0
# Outside these rates a file is either not a recording of a room or a header made up to make
# the polyphase resampler build an enormous filter. The upper bound is what phones record at:
# the duration limit is in seconds, so a higher rate would multiply the memory a tiny, highly
# compressible upload can demand (an 841 KB FLAC of 600 s of silence at 384 kHz peaked at
# 1.8 GB while decoding; at 48 kHz the same file is bounded by ~8x less).
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 48_000
# Samples (frames x channels) per block read from libsndfile: ~4 MB of float32.
_BLOCK_SAMPLES = 1 << 20
# libsndfile reports SF_COUNT_MAX (2**63 - 1) frames when it cannot tell a file's length.
_UNKNOWN_FRAMES = 1 << 62


@dataclass(frozen=True, slots=True, eq=False)
class DecodedAudio:
    """Mono float32 ``samples`` at ``sample_rate`` (the requested target rate)."""

    samples: FloatArray
    sample_rate: int
    original_rate: int
    duration_s: float


def decode_audio(
    path: Path, fmt: AudioFormat, target_rate: int, max_seconds: float = DEFAULT_MAX_SECONDS
) -> DecodedAudio:
    """Decode ``path`` (already sniffed as ``fmt``) to mono float32 at ``target_rate``.

    Raises ``AudioTooLongError`` beyond ``max_seconds``, ``CorruptAudioError`` (with the
    decoder's reason) when the data cannot be decoded or holds no samples, and
    ``UnsupportedAudioError`` for a sample rate outside 4-384 kHz.
    """
    if target_rate <= 0 or max_seconds <= 0:
        raise ValueError(
            f"target_rate and max_seconds must be positive: {target_rate}, {max_seconds}"
        )
    if fmt is AudioFormat.M4A:
        mono, original_rate = _decode_with_pyav(path, max_seconds)
    else:
        mono, original_rate = _decode_with_soundfile(path, max_seconds)
    if mono.size == 0:
        raise CorruptAudioError("the audio file contains no samples")
    if not np.isfinite(mono).all():
        raise CorruptAudioError("the audio file contains non-finite samples")
    duration_s = mono.size / original_rate
    samples = resample(mono, original_rate, target_rate)
    logger.debug(
        "decoded %s: %s, %.3f s at %d Hz -> %d Hz",
        path.name,
        fmt.name,
        duration_s,
        original_rate,
        target_rate,
    )
    return DecodedAudio(samples, target_rate, original_rate, duration_s)


def _check_rate(rate: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise UnsupportedAudioError(
            f"a sample rate of {rate} Hz is outside the supported "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )


def _frame_limit(rate: int, max_seconds: float) -> int:
    return math.floor(max_seconds * rate)


def _decode_with_soundfile(path: Path, max_seconds: float) -> tuple[FloatArray, int]:
    blocks: list[FloatArray] = []
    try:
        with soundfile.SoundFile(str(path)) as audio:
            rate = int(audio.samplerate)
            _check_rate(rate)
            limit = _frame_limit(rate, max_seconds)
            declared = int(audio.frames)
            # The header's length, checked before decoding anything. soundfile never reads past
            # it, so it bounds the work too - unless libsndfile could not tell the length and
            # reports SF_COUNT_MAX; then the running count below is the bound.
            if _UNKNOWN_FRAMES > declared > limit:
                raise AudioTooLongError(max_seconds, declared / rate)
            block_frames = max(1, _BLOCK_SAMPLES // int(audio.channels))
            total = 0
            while True:
                block = audio.read(block_frames, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                total += block.shape[0]
                if total > limit:
                    raise AudioTooLongError(max_seconds)
                blocks.append(to_mono(block))
    except (soundfile.SoundFileError, RuntimeError, OSError) as exc:
        raise CorruptAudioError(f"cannot decode the audio: {exc}") from exc
    return _concatenate(blocks), rate


def _decode_with_pyav(path: Path, max_seconds: float) -> tuple[FloatArray, int]:
    import av  # FFmpeg is only loaded by the upload path, and only for M4A

    pieces: list[FloatArray] = []
    try:
        # The demuxer is forced rather than probed: the file was sniffed as ISO media, and
        # probing untrusted bytes could pick a demuxer that follows references (HLS, concat).
        with av.open(str(path), mode="r", format="mov") as container:
            if not container.streams.audio:
                raise CorruptAudioError("the M4A file has no audio track")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate)
            _check_rate(rate)
            limit = _frame_limit(rate, max_seconds)
            declared = _declared_frames(stream, rate)
            if declared is not None and declared > limit:
                raise AudioTooLongError(max_seconds, declared / rate)
            # AAC decodes in whole 1024-sample frames, so the last one carries encoder padding
            # past the length the container states; cut it like a gapless player does.
            keep = limit if declared is None else declared
            converter = av.AudioResampler(format="fltp")  # sample format only; see module doc
            total = 0
            for frame in container.decode(stream):
                for converted in converter.resample(frame):
                    mono = np.asarray(converted.to_ndarray().mean(axis=0), dtype=np.float32)
                    total += mono.size
                    if declared is None and total > limit:
                        raise AudioTooLongError(max_seconds)
                    pieces.append(mono)
                if declared is not None and total >= keep:
                    break
    except UploadError:
        raise
    except (av.error.FFmpegError, ValueError) as exc:  # PyAV raises ValueError on odd frames
        raise CorruptAudioError(f"cannot decode the M4A audio: {exc}") from exc
    return _concatenate(pieces)[:keep], rate


def _declared_frames(stream: AudioStream, rate: int) -> int | None:
    """The track's length in samples as the container states it (edit list applied), if any."""
    if stream.duration is None or stream.time_base is None or stream.duration <= 0:
        return None
    return round(float(stream.duration * stream.time_base) * rate)


def _concatenate(pieces: list[FloatArray]) -> FloatArray:
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(pieces).astype(np.float32, copy=False)
