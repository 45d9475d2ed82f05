"""A bounded float32 ring buffer between the sound card's callback and the audio thread.

The writer is PortAudio's callback thread, which must never wait: a late callback is an input
overflow, a gap in the recording. So ``write`` only takes a short lock to copy into a
preallocated array, and when the buffer is full it discards the OLDEST samples. Dropping the
oldest keeps the detector live - after a stall it resumes on what is happening now instead of
working through seconds of stale audio while a cry goes unreported; the lost samples are counted
as an overflow. The reader waits on a condition (which releases the lock) for data or a timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False, slots=True)
class RingRead:
    """What one ``read`` took out, with what is needed to date it."""

    samples: FloatArray
    backlog: int  # samples still buffered behind these (written after them)
    written_at: float  # clock() of the most recent write, i.e. when the newest sample arrived


class SampleRing:
    """Single producer, single consumer; ``capacity`` in samples."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least one sample, got {capacity}")
        self._buffer = np.zeros(capacity, dtype=np.float32)
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._head = 0  # index of the oldest buffered sample
        self._size = 0
        self._closed = False
        self._written_at = clock()
        self._dropped_samples = 0
        self._overflows = 0

    @property
    def capacity(self) -> int:
        return len(self._buffer)

    @property
    def size(self) -> int:
        """Samples buffered now (a snapshot; the producer may add more at once)."""
        return self._size

    @property
    def dropped_samples(self) -> int:
        return self._dropped_samples

    @property
    def overflows(self) -> int:
        """Writes that had to discard samples."""
        return self._overflows

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, samples: FloatArray) -> int:
        """Append samples without waiting; returns how many samples were dropped to fit them.

        Writes after ``close()`` are ignored: the stream is shutting down.
        """
        count = len(samples)
        if count == 0:
            return 0
        now = self._clock()
        capacity = len(self._buffer)
        with self._cond:
            if self._closed:
                return 0
            if count >= capacity:
                # Only the newest ``capacity`` samples can stay; everything else goes.
                dropped = self._size + count - capacity
                self._buffer[:] = samples[count - capacity :]
                self._head, self._size = 0, capacity
            else:
                dropped = max(0, self._size + count - capacity)
                self._head = (self._head + dropped) % capacity
                self._size -= dropped
                tail = (self._head + self._size) % capacity
                first = min(count, capacity - tail)
                self._buffer[tail : tail + first] = samples[:first]
                self._buffer[: count - first] = samples[first:]
                self._size += count
            if dropped:
                self._dropped_samples += dropped
                self._overflows += 1
            self._written_at = now
            self._cond.notify()
        return dropped

    def read(self, max_samples: int, timeout_s: float) -> RingRead | None:
        """Take up to ``max_samples`` of the oldest samples, waiting up to ``timeout_s`` for any.

        Returns as soon as something is buffered (it does not wait to fill ``max_samples``);
        None on timeout, or at once when the ring is closed and empty.
        """
        if max_samples < 1:
            raise ValueError(f"max_samples must be positive, got {max_samples}")
        capacity = len(self._buffer)
        with self._cond:
            if not self._cond.wait_for(lambda: self._size > 0 or self._closed, timeout_s):
                return None
            if self._size == 0:
                return None
            count = min(max_samples, self._size)
            out = np.empty(count, dtype=np.float32)
            first = min(count, capacity - self._head)
            out[:first] = self._buffer[self._head : self._head + first]
            out[first:] = self._buffer[: count - first]
            self._head = (self._head + count) % capacity
            self._size -= count
            return RingRead(out, backlog=self._size, written_at=self._written_at)

    def close(self) -> None:
        """Refuse further writes and wake a waiting reader; buffered samples can still be read."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reset(self) -> None:
        """Empty and reopen (a restarted stream); the drop counters keep counting."""
        with self._cond:
            self._head = self._size = 0
            self._closed = False
            self._written_at = self._clock()
