"""The cry detector as the API uses it: loaded once, run off the event loop, one at a time.

The shipped model is the same as on the devices (``models.cry``), so an uploaded recording is
judged exactly as a device would judge it. A TFLite interpreter is not thread-safe, so analyses
are serialised by a lock; each takes well under a second for a minute of audio
(docs/performance.md), and the event loop stays free meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import numpy as np
import numpy.typing as npt

from models.cry import Analysis, CryDetector, CryDetectorError

logger = logging.getLogger(__name__)

ANALYSES_AT_ONCE = 2


class CryAnalyzer:
    def __init__(self, detector: CryDetector | None, problem: str | None = None) -> None:
        self._detector = detector
        self.problem = problem
        self._lock = threading.Lock()
        # Decoding and analysis hold a whole clip in memory: at most this many uploads at once.
        self.slots = asyncio.Semaphore(ANALYSES_AT_ONCE)

    @classmethod
    def load(cls) -> CryAnalyzer:
        """The shipped model; a missing runtime or model leaves the API up without it."""
        try:
            return cls(CryDetector.from_manifest())
        except CryDetectorError as exc:
            logger.error("cry detection unavailable: %s", exc)
            return cls(None, str(exc))

    @property
    def ready(self) -> bool:
        return self._detector is not None

    @property
    def sample_rate(self) -> int:
        return self._detector.sample_rate if self._detector is not None else 16000

    async def analyze(self, samples: npt.NDArray[np.float32], sample_rate: int) -> Analysis:
        if self._detector is None:
            raise CryDetectorError(f"cry detection unavailable: {self.problem}")
        return await asyncio.to_thread(self._analyze, samples, sample_rate)

    def _analyze(self, samples: npt.NDArray[np.float32], sample_rate: int) -> Analysis:
        assert self._detector is not None
        with self._lock:
            return self._detector.analyze(samples, sample_rate)
