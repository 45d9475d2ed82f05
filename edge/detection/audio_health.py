"""Is the microphone alive? A dead input and a quiet room both sound like nothing, but differ.

A muted or unplugged input, a capture gain of zero or a broken converter deliver exact digital
zeros, one repeated value, or a fixed (DC) level that does not move. A real room, however quiet,
never does: the microphone's self-noise and the converter's own noise keep every second of it
varying, at -60 to -90 dBFS for real hardware. So the judgement is on the *variation* of the
samples, not their level:

- every sample exactly zero for ``dead_after_s`` -> dead ("digital silence"),
- every sample the same non-zero value -> dead ("one value"),
- no second of the window varying by more than ``DEAD_AC_DBFS`` around its mean -> dead
  (a stuck DC level; the bound is below a 16-bit converter's quantisation noise, -101 dBFS,
  so a working microphone cannot fall under it while one that flickers by a single step now
  and then still does).

The window rolls in whole seconds; one live second within it clears the fault, so recovery
shows at once. Fed by the audio thread; ``problem`` may be read from any thread.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.detection.level import FLOOR_DBFS

DEAD_AC_DBFS = -100.0
_DEAD_AC_RMS = 10.0 ** (DEAD_AC_DBFS / 20.0)
_BLOCK_S = 1.0


@dataclass(frozen=True, slots=True)
class _Second:
    minimum: float
    maximum: float
    mean: float
    ac_rms: float  # standard deviation: the variation around the mean


class MicrophoneHealth:
    def __init__(self, sample_rate: int, dead_after_s: float) -> None:
        if dead_after_s <= 0:
            raise ValueError(f"dead_after_s must be > 0, got {dead_after_s}")
        self._block = max(1, round(sample_rate * _BLOCK_S))
        self._dead_after_s = dead_after_s
        self._seconds: deque[_Second] = deque(maxlen=max(1, math.ceil(dead_after_s / _BLOCK_S)))
        self._pending = np.zeros(0, dtype=np.float32)
        self._lock = threading.Lock()
        self._problem: str | None = None

    @property
    def problem(self) -> str | None:
        """What shows the input is dead, in a sentence; None while it is alive or undecided."""
        with self._lock:
            return self._problem

    def reset(self) -> None:
        """The input was re-opened: what the old stream did says nothing about the new one."""
        self._seconds.clear()
        self._pending = np.zeros(0, dtype=np.float32)
        with self._lock:
            self._problem = None

    def add(self, samples: npt.NDArray[np.float32]) -> None:
        data = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        whole = len(data) - len(data) % self._block
        if not whole:
            self._pending = data.copy()
            return
        for block in data[:whole].astype(np.float64).reshape(-1, self._block):
            self._seconds.append(
                _Second(
                    float(block.min()), float(block.max()), float(block.mean()), float(block.std())
                )
            )
        self._pending = data[whole:].copy()
        problem = self._judge()
        with self._lock:
            self._problem = problem

    def _judge(self) -> str | None:
        seconds = self._seconds
        if len(seconds) < (seconds.maxlen or 0):
            return None  # not heard long enough to tell
        span = f"for {len(seconds) * _BLOCK_S:.0f} s"
        low = min(second.minimum for second in seconds)
        high = max(second.maximum for second in seconds)
        if low == high == 0.0:
            return f"every sample was digital zero {span}: the input is muted, off or unplugged"
        if low == high:
            return f"every sample had the same value ({low:+.5f}) {span}: the input is stuck"
        liveliest = max(second.ac_rms for second in seconds)
        if liveliest < _DEAD_AC_RMS:
            mean = sum(second.mean for second in seconds) / len(seconds)
            return (
                f"the signal stayed at a fixed level ({mean:+.5f}) {span}, varying by "
                f"{_dbfs(liveliest):.0f} dBFS at most: the input is stuck (a quiet room "
                f"varies by more than {DEAD_AC_DBFS:.0f} dBFS)"
            )
        return None


def _dbfs(rms: float) -> float:
    return max(FLOOR_DBFS, 20.0 * math.log10(rms)) if rms > 0 else FLOOR_DBFS
