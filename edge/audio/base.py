"""The ``AudioSource`` interface shared by the microphone and the file replay.

Every source delivers what ``CryDetector.feed`` expects - mono float32 samples in [-1, 1] at the
model's rate - so the audio thread never converts anything and a replayed file goes through the
exact path a live microphone does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

# The cry model's rate (models/artifacts manifest). Sources take the rate as a parameter so the
# composition root can pass ``detector.sample_rate``; this is only the default.
MODEL_SAMPLE_RATE = 16_000


class AudioSourceError(RuntimeError):
    """Audio input failed (device gone, stream stopped, file unreadable). The daemon retries."""


class MicrophoneNotFoundError(AudioSourceError):
    """No usable input device: missing PortAudio, no match for ``audio.device``, or no 16 kHz."""


@dataclass(frozen=True, eq=False, slots=True)
class AudioChunk:
    """Consecutive samples of the stream.

    ``samples``: 1-D mono float32 at the source's ``sample_rate``.
    ``captured_at``: ``time.monotonic()`` when the chunk's last sample had been recorded, i.e.
    when the chunk became complete. Live sources estimate it from the time the sound card handed
    the samples over (minus whatever was still buffered behind them); a real-time replay uses its
    schedule; a fast replay, which has no capture time, uses the moment of delivery.
    """

    samples: FloatArray
    captured_at: float


@dataclass(frozen=True, slots=True)
class AudioStats:
    """Counters since the source was created (they survive ``close``/``start`` cycles)."""

    chunks: int = 0  # chunks delivered by read()
    samples: int = 0  # samples delivered by read()
    # Times audio was lost because a buffer was full: PortAudio input-overflow flags plus ring
    # buffer drops. Each one is a gap in what the detector heard.
    overflows: int = 0
    dropped_samples: int = 0  # samples the ring buffer discarded to make room (oldest first)
    errors: int = 0  # failures to open, stream stops, unreadable files
    last_error: str | None = None


class AudioSource(Protocol):
    """Mono float32 audio at ``sample_rate``, read in chunks by one consumer thread.

    Lifecycle: ``start()``, then ``read()`` until ``close()``; ``start()`` may be called again
    after ``close()`` (the daemon does so to recover from an unplugged microphone).
    """

    @property
    def sample_rate(self) -> int:
        """Samples per second of every chunk: always the model's rate."""
        ...

    def start(self) -> None:
        """Open the device or file(s); raises AudioSourceError (or MicrophoneNotFoundError)."""
        ...

    def read(self, timeout_s: float) -> AudioChunk | None:
        """The next chunk, waiting up to ``timeout_s``; None on timeout, when not running, or
        when a finite source is ``exhausted``. Raises AudioSourceError when the input failed."""
        ...

    @property
    def exhausted(self) -> bool:
        """True once a finite source has delivered everything; always False for a microphone."""
        ...

    def stats(self) -> AudioStats: ...

    def close(self) -> None:
        """Release the device or files; wakes a read() blocked in another thread. Idempotent."""
        ...
