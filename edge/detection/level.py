"""Sound levels: per-block levels of a stream, and the summary between two telemetry messages
(the energy average and the loudest moment)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FLOOR_DBFS = -120.0


@dataclass(frozen=True, slots=True)
class LevelSummary:
    avg_dbfs: float
    max_dbfs: float
    seconds: float


def _dbfs(mean_square: float) -> float:
    return max(FLOOR_DBFS, 10.0 * math.log10(mean_square)) if mean_square > 0 else FLOOR_DBFS


class BlockLevelSplitter:
    """Cuts a stream fed in chunks of any size into ``block_s`` blocks and returns the RMS level
    in dBFS of every block as it completes; a partial block waits for the next chunk.

    100 ms blocks: short enough that a quiet room's floor shows between sounds, long enough that
    a single click does not make a block.
    """

    def __init__(self, sample_rate: int, block_s: float = 0.1) -> None:
        self.block = max(1, round(sample_rate * block_s))
        self.block_s = self.block / sample_rate
        self._pending = np.zeros(0, dtype=np.float32)

    def add(self, samples: npt.NDArray[np.float32]) -> list[float]:
        data = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        whole = len(data) - len(data) % self.block
        levels: list[float] = []
        if whole:
            blocks = data[:whole].astype(np.float64).reshape(-1, self.block)
            levels = [_dbfs(ms) for ms in np.mean(np.square(blocks), axis=1).tolist()]
        self._pending = data[whole:].copy()
        return levels


class SoundLevelMeter:
    """Fed by the audio thread, read by the telemetry timer.

    The average is the level of the mean *energy* (what a sound level meter shows, so a short
    loud cry raises it as it should), not the mean of dB values. The maximum is over blocks of
    ``block_s`` (100 ms by default, the "fast" time weighting's order of magnitude), so a single
    click does not read as a loud room.
    """

    def __init__(self, sample_rate: int, block_s: float = 0.1) -> None:
        self._block = max(1, round(sample_rate * block_s))
        self._sample_rate = sample_rate
        self._lock = threading.Lock()
        self._pending = np.zeros(0, dtype=np.float32)
        self._energy = 0.0
        self._samples = 0
        self._max_mean_square = 0.0

    def add(self, samples: npt.NDArray[np.float32]) -> None:
        data = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        whole = len(data) - len(data) % self._block
        squares = np.square(data[:whole], dtype=np.float64)
        blocks = squares.reshape(-1, self._block).mean(axis=1) if whole else squares
        with self._lock:
            self._energy += float(squares.sum())
            self._samples += whole
            if len(blocks):
                self._max_mean_square = max(self._max_mean_square, float(blocks.max()))
        self._pending = data[whole:].copy()

    def take(self) -> LevelSummary | None:
        """The summary since the last call (None when no audio arrived), and start afresh."""
        with self._lock:
            if self._samples == 0:
                return None
            summary = LevelSummary(
                _dbfs(self._energy / self._samples),
                _dbfs(self._max_mean_square),
                self._samples / self._sample_rate,
            )
            self._energy, self._samples, self._max_mean_square = 0.0, 0, 0.0
        return summary
