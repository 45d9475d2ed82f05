"""Audio files replayed as if they were the microphone (demo, simulated device, field tests).

The playlist becomes one continuous stream at the model's rate - file, ``gap_s`` of silence,
next file, ... - cut into chunks of ``chunk_s`` exactly as a sound card's blocks would be, so the
detector cannot tell a replay from a live night. Chunks are made on demand in the caller's thread
(``read`` paces them), so the replay needs no thread of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path

import numpy as np
import soundfile

from edge.audio.base import (
    MODEL_SAMPLE_RATE,
    AudioChunk,
    AudioSourceError,
    AudioStats,
    FloatArray,
)
from models.cry.audio import load_audio, to_mono
from models.cry.errors import AudioLoadError

logger = logging.getLogger(__name__)

# Files already at the model rate are read this many seconds at a time, so memory stays bounded
# for a recording of a whole night. Other rates are resampled whole (see ``_file_samples``).
READ_BLOCK_S = 5.0
_READ_ERRORS = (OSError, RuntimeError, soundfile.LibsndfileError, AudioLoadError)


class FileReplaySource:
    """A playlist of soundfile-readable files (WAV, FLAC, OGG, ...) as an ``AudioSource``.

    ``chunk_s`` defaults to 0.1 s, the daemon's ``audio.chunk_s`` default: a chunk boundary then
    delays a cry's start by at most 0.1 s, while ten reads a second cost nothing measurable.
    With ``realtime`` a chunk is released once its last sample "has been recorded" (``start``
    time + its end offset / rate, on ``clock``); a reader that fell behind gets the backlog at
    once and pacing resumes, as from a microphone's buffer. ``realtime=False`` delivers as fast
    as ``read`` is called. ``loop`` repeats the playlist forever; ``gap_s`` of silence goes
    between consecutive files (also from the last back to the first when looping), so two cry
    recordings make two episodes. ``clock`` and ``sleep`` are injectable for tests; by default
    the sleep waits on an event that ``close()`` sets, so closing interrupts a paced read.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        *,
        sample_rate: int = MODEL_SAMPLE_RATE,
        chunk_s: float = 0.1,
        realtime: bool = True,
        loop: bool = False,
        gap_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if chunk_s <= 0 or gap_s < 0:
            raise ValueError(f"need chunk_s > 0 and gap_s >= 0, got {chunk_s} and {gap_s}")
        if not files:
            raise AudioSourceError("no audio files to replay")
        self.sample_rate = sample_rate
        self.chunk_samples = max(1, round(chunk_s * sample_rate))
        self.realtime = realtime
        self.loop = loop
        self.gap_samples = round(gap_s * sample_rate)
        self._playlist = [_checked(Path(path)) for path in files]
        self._clock = clock
        self._stop = threading.Event()
        self._sleep = sleep if sleep is not None else self._stop.wait
        self._lock = threading.Lock()  # read() against close() from another thread
        self._chunk_iter: Generator[FloatArray, None, None] | None = None
        self._pending: FloatArray | None = None  # made but not yet due
        self._started_at = 0.0
        self._position = 0  # samples delivered since start(): the pacing schedule
        self._exhausted = False
        self._chunks = self._samples = self._errors = 0
        self._last_error: str | None = None

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def start(self) -> None:
        """Begin (again) at the first file; a no-op while already running."""
        with self._lock:
            if self._chunk_iter is not None:
                return
            self._stop.clear()
            self._chunk_iter = self._chunk_stream()
            self._pending = None
            self._position = 0
            self._exhausted = False
            self._started_at = self._clock()
        logger.info(
            "replaying %d file(s)%s%s",
            len(self._playlist),
            " in real time" if self.realtime else " as fast as possible",
            ", looping" if self.loop else "",
        )

    def read(self, timeout_s: float) -> AudioChunk | None:
        with self._lock:
            if self._chunk_iter is None:
                return None
            if self._pending is None:
                try:
                    self._pending = next(self._chunk_iter, None)
                except AudioSourceError as exc:
                    self._errors += 1
                    self._last_error = str(exc)
                    self._chunk_iter = None  # stopped; start() begins again
                    raise
                if self._pending is None:
                    self._exhausted = True
                    return None
            end = self._position + len(self._pending)
            if self.realtime:
                captured_at = self._started_at + end / self.sample_rate
                wait_s = captured_at - self._clock()
                if wait_s > timeout_s:
                    self._sleep(max(0.0, timeout_s))
                    return None
                if wait_s > 0:
                    self._sleep(wait_s)
                if self._stop.is_set():
                    return None
            else:
                captured_at = self._clock()
            chunk, self._pending = self._pending, None
            self._position = end
            self._chunks += 1
            self._samples += len(chunk)
            return AudioChunk(chunk, captured_at)

    def stats(self) -> AudioStats:
        return AudioStats(
            chunks=self._chunks,
            samples=self._samples,
            errors=self._errors,
            last_error=self._last_error,
        )

    def close(self) -> None:
        self._stop.set()  # first: wakes a paced read() so the lock comes free
        with self._lock:
            if self._chunk_iter is not None:
                self._chunk_iter.close()  # closes the file being read
                self._chunk_iter = None
            self._pending = None

    # ---- the stream ----

    def _chunk_stream(self) -> Generator[FloatArray, None, None]:
        """Fixed-size chunks across file and gap boundaries; only the very last may be short."""
        size = self.chunk_samples
        pending: list[FloatArray] = []
        pending_count = 0
        for segment in self._segments():
            pending.append(segment)
            pending_count += len(segment)
            if pending_count < size:
                continue
            joined = np.concatenate(pending)
            whole = len(joined) - len(joined) % size
            for start in range(0, whole, size):
                yield joined[start : start + size]
            pending = [joined[whole:]]
            pending_count = len(joined) - whole
        if pending_count:
            yield np.concatenate(pending)

    def _segments(self) -> Iterator[FloatArray]:
        first = True
        while True:
            for path, rate in self._playlist:
                if not first:
                    yield from self._silence()
                first = False
                yield from self._file_samples(path, rate)
            if not self.loop:
                return

    def _silence(self) -> Iterator[FloatArray]:
        block = max(1, round(READ_BLOCK_S * self.sample_rate))
        zeros = np.zeros(min(block, self.gap_samples), dtype=np.float32)
        for start in range(0, self.gap_samples, block):
            yield zeros[: min(block, self.gap_samples - start)]

    def _file_samples(self, path: Path, rate: int) -> Iterator[FloatArray]:
        try:
            if rate == self.sample_rate:
                block = max(1, round(READ_BLOCK_S * rate))
                with soundfile.SoundFile(str(path)) as audio_file:
                    while len(data := audio_file.read(block, dtype="float32")):
                        yield to_mono(np.asarray(data))
            else:
                # Resampled whole: a polyphase filter over the full signal has no block seams.
                yield load_audio(path, self.sample_rate)
        except _READ_ERRORS as exc:
            raise AudioSourceError(f"cannot read audio file {path}: {exc}") from exc


def _checked(path: Path) -> tuple[Path, int]:
    """Fail at construction, naming the file, rather than hours into a replay."""
    if not path.is_file():  # libsndfile would only say "System error"
        raise AudioSourceError(f"no such file: {path}")
    try:
        info = soundfile.info(str(path))
    except _READ_ERRORS as exc:
        raise AudioSourceError(f"cannot read audio file {path}: {exc}") from exc
    if info.frames <= 0:
        raise AudioSourceError(f"audio file {path} holds no samples")
    return path, int(info.samplerate)
