"""Stream an uploaded audio file to disk: bounded, sniffed, and under a name we generate.

The directory must live outside any web root. Files are written 0600 into a 0700 directory and
are reached only through the API (which checks who may read them); serving the directory
statically would hand every family's recordings to anyone who guesses a name.

Nothing the client sends becomes part of a path: the name is ``audio_<user>_<UTC time>_<random>``
plus the extension of the format found in the bytes. An upload becomes visible under that name
only once it is complete (written to a ``.part`` file, fsynced, then linked into place), so a
crash or a disconnect never leaves a half file that looks finished.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from cloud.uploads.errors import EmptyUploadError, UploadTooLargeError
from cloud.uploads.formats import SNIFF_BYTES, AudioFormat, sniff_audio_format

logger = logging.getLogger(__name__)

URL_PREFIX = "uploads"
DEFAULT_READ_SIZE = 64 * 1024
PARTIAL_PREFIX = ".upload-"
PARTIAL_SUFFIX = ".part"
_NAME_ATTEMPTS = 5


@runtime_checkable
class AsyncReadable(Protocol):
    """What the store needs of an upload object: Starlette's ``UploadFile`` fits."""

    async def read(self, size: int, /) -> bytes: ...


ChunkSource = AsyncReadable | AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class StoredAudio:
    """A complete upload on disk. ``relative_url`` is what the API stores and returns."""

    path: Path
    relative_url: str
    format: AudioFormat
    size_bytes: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AudioStore:
    """Saves uploads into ``directory``, refusing any larger than ``max_bytes``."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_bytes <= 0 or read_size <= 0:
            raise ValueError(f"max_bytes and read_size must be positive: {max_bytes}, {read_size}")
        # Absolute once, so stored paths stay valid if the process later changes directory.
        self.directory = directory.absolute()
        self.max_bytes = max_bytes
        self.read_size = read_size
        self._clock = clock
        self._checked_directory = False

    async def save(self, user_id: int, chunks: ChunkSource) -> StoredAudio:
        """Stream ``chunks`` to disk and return the stored file.

        Raises ``UploadTooLargeError`` as soon as the stream passes ``max_bytes``,
        ``UnsupportedAudioError`` as soon as the first bytes are not audio and
        ``EmptyUploadError`` for no bytes at all; in every failure (including cancellation when
        the client goes away) the partial file is removed before the exception propagates.
        """
        if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id < 0:
            raise ValueError(f"user_id must be a non-negative integer, got {user_id!r}")
        # File system calls go to a worker thread: on the demo Pi the directory is on an SD card,
        # where a write or fsync can stall long enough to freeze every WebSocket on the loop.
        await asyncio.to_thread(self._ensure_directory)
        fd, partial_name = await asyncio.to_thread(
            tempfile.mkstemp, prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=self.directory
        )  # mkstemp creates the file 0600 whatever the umask
        partial = Path(partial_name)
        file = os.fdopen(fd, "wb")
        try:
            size_bytes, audio_format = await self._receive(chunks, file)
            await asyncio.to_thread(_flush_and_close, file)
            path = await asyncio.to_thread(self._publish, partial, user_id, audio_format)
        except BaseException:
            # Synchronous on purpose: after a cancellation another await could be cancelled too,
            # and closing plus unlinking one file is quick.
            _discard(file, partial)
            raise
        logger.info(
            "stored audio upload %s for user %d (%s, %d bytes)",
            path.name,
            user_id,
            audio_format.name,
            size_bytes,
        )
        return StoredAudio(
            path=path,
            relative_url=f"{URL_PREFIX}/{path.name}",
            format=audio_format,
            size_bytes=size_bytes,
        )

    async def delete(self, stored: StoredAudio) -> None:
        """Remove a stored upload, e.g. when it turns out not to decode. Missing is fine."""
        # Only ever files of this store: a StoredAudio rebuilt from elsewhere must not become a
        # way to delete arbitrary paths.
        if stored.path.parent != self.directory:
            raise ValueError(f"{stored.path} is not in the upload directory {self.directory}")
        await asyncio.to_thread(stored.path.unlink, missing_ok=True)
        logger.info("deleted audio upload %s", stored.path.name)

    async def _receive(self, chunks: ChunkSource, file: BinaryIO) -> tuple[int, AudioFormat]:
        head = bytearray()
        audio_format: AudioFormat | None = None
        size_bytes = 0
        async with aclosing(_iterate(chunks, self.read_size)) as stream:
            async for chunk in stream:
                size_bytes += len(chunk)
                if size_bytes > self.max_bytes:
                    logger.info("refused an audio upload over %d bytes", self.max_bytes)
                    raise UploadTooLargeError(self.max_bytes)
                if audio_format is None:
                    head += chunk[: SNIFF_BYTES - len(head)]
                    if len(head) >= SNIFF_BYTES:
                        # Decide early: a photo or a video is refused without reading the rest.
                        audio_format = sniff_audio_format(bytes(head))
                await asyncio.to_thread(file.write, chunk)
        if size_bytes == 0:
            raise EmptyUploadError("the audio upload is empty")
        if audio_format is None:  # a file shorter than SNIFF_BYTES
            audio_format = sniff_audio_format(bytes(head))
        return size_bytes, audio_format

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True)
        except FileExistsError:
            if not self._checked_directory:
                self._checked_directory = True
                mode = stat.S_IMODE(self.directory.stat().st_mode)
                if mode & 0o077:
                    logger.warning(
                        "upload directory %s is accessible to other users (mode %o)",
                        self.directory,
                        mode,
                    )
            return
        os.chmod(self.directory, 0o700)  # mkdir's mode is reduced by the umask
        self._checked_directory = True

    def _publish(self, partial: Path, user_id: int, audio_format: AudioFormat) -> Path:
        # os.link fails if the name exists, so two uploads never overwrite each other even in
        # the 1-in-4-billion case of the same user, second and random suffix.
        for _ in range(_NAME_ATTEMPTS):
            stamp = self._clock().astimezone(UTC).strftime("%Y%m%d_%H%M%S")
            name = f"audio_{user_id}_{stamp}_{secrets.token_hex(4)}.{audio_format.extension}"
            target = self.directory / name
            try:
                os.link(partial, target)
            except FileExistsError:
                continue
            partial.unlink()
            return target
        raise FileExistsError(f"no free upload name after {_NAME_ATTEMPTS} attempts")


async def _iterate(chunks: ChunkSource, read_size: int) -> AsyncGenerator[bytes, None]:
    """Byte chunks from an ``UploadFile``-like reader or from any async iterable of bytes."""
    if isinstance(chunks, AsyncReadable):
        while chunk := await chunks.read(read_size):
            yield chunk
        return
    async for chunk in chunks:
        if chunk:
            yield chunk


def _flush_and_close(file: BinaryIO) -> None:
    # Durable before the API commits a record that points at it.
    file.flush()
    os.fsync(file.fileno())
    file.close()


def _discard(file: BinaryIO, partial: Path) -> None:
    file.close()
    partial.unlink(missing_ok=True)
