"""Uploaded audio: recognise the format by content, store it safely, decode it for the detector.

Independent of FastAPI: the route hands ``AudioStore.save`` its ``UploadFile`` (anything with
``async read(n)``, or an async iterable of byte chunks), runs ``decode_audio`` in a worker
thread, and maps ``UploadError`` to 400.
"""

from __future__ import annotations

from cloud.uploads.decode import DEFAULT_MAX_SECONDS, DecodedAudio, decode_audio
from cloud.uploads.errors import (
    AudioTooLongError,
    CorruptAudioError,
    EmptyUploadError,
    UnsupportedAudioError,
    UploadError,
    UploadTooLargeError,
)
from cloud.uploads.formats import SUPPORTED_FORMATS, AudioFormat, sniff_audio_format
from cloud.uploads.store import AsyncReadable, AudioStore, ChunkSource, StoredAudio

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "SUPPORTED_FORMATS",
    "AsyncReadable",
    "AudioFormat",
    "AudioStore",
    "AudioTooLongError",
    "ChunkSource",
    "CorruptAudioError",
    "DecodedAudio",
    "EmptyUploadError",
    "StoredAudio",
    "UnsupportedAudioError",
    "UploadError",
    "UploadTooLargeError",
    "decode_audio",
    "sniff_audio_format",
]
