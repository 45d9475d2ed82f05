"""The two-stage cry scorer that keeps a Raspberry Pi mostly idle.

Stage one runs on every 1 s window, every 0.1 s, and costs little: the window's level and the
small int8 model's score. Only when one of them says "something is there" (the gate) does stage
two run: YAMNet on the window's last 0.975 s, every ``backbone_hop_s`` while the gate is open,
and the cry head on its embedding. A quiet night therefore costs the small model only; a cry
opens the gate in its first window, and the gate stays open ``hold_s`` after the last trigger
so a pause between sobs does not close it.

The score handed to the episode tracker is stage two's, held between its runs; while the gate
is closed it is 0: neither the level nor the small model heard anything that could be a cry.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from models.cry.backbone import YamnetBackbone
from models.cry.head import CryHead

FloatArray = npt.NDArray[np.float32]
# Window starts are frame counts times 10 ms in floating point, where 0.6 - 0.3 is
# 0.29999999999999993: compared exactly, more than half the runs slipped to 0.4 s apart.
HOP_TOLERANCE_S = 1e-6


class WindowScorer(Protocol):
    def score(self, window: FloatArray) -> float: ...


@dataclass(frozen=True)
class GateParams:
    # The small model's score from which a window counts as a candidate: a third of its own
    # cry threshold (a missed candidate is a missed cry), but above the 0.06-0.13 it gives a
    # quiet room's hiss, or the gate would never close on a quiet night.
    small_threshold: float = 0.3
    # Or a window at least this loud (RMS): a cry a few metres away is far above it, a quiet
    # room (about -60 dBFS) below. A loud noise machine keeps the gate open: that is the
    # "sound present" budget.
    level_dbfs: float = -50.0
    hold_s: float = 4.0
    backbone_hop_s: float = 0.3
    # The score is the lowest of the last this-many stage-two runs: crying is sustained, while a
    # laugh, a yelp or a door has one cry-like instant (it costs one hop of onset latency).
    smoothing_runs: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.small_threshold <= 1.0:
            raise ValueError("gate.small_threshold must be within [0, 1]")
        if self.hold_s < 0 or self.backbone_hop_s <= 0:
            raise ValueError("gate.hold_s must be >= 0 and gate.backbone_hop_s > 0")
        if self.smoothing_runs < 1:
            raise ValueError("gate.smoothing_runs must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateParams:
        return cls(**data)


@dataclass
class StageCounters:
    """How often each stage ran: the benchmarks' and the agent's view of the cascade's cost."""

    windows: int = 0
    backbone_runs: int = 0
    gate_open_windows: int = 0


@dataclass(frozen=True)
class BackboneRun:
    """One stage-two result, kept to explain an episode (what YAMNet heard, and when) and to
    fingerprint it (its embedding; models/cry/fingerprint.py)."""

    centre_s: float
    cry_score: float
    class_scores: FloatArray
    embedding: FloatArray


class CascadeScorer:
    """Gate (level + small model), then YAMNet and the cry head."""

    def __init__(
        self,
        small: WindowScorer,
        backbone: YamnetBackbone,
        head: CryHead,
        gate: GateParams,
        window_s: float,
    ) -> None:
        self.small = small
        self.backbone = backbone
        self.head = head
        self.gate = gate
        self.window_s = window_s
        self.counters = StageCounters()
        self.reset()

    def reset(self) -> None:
        self._open_until = -1.0
        self._last_run_at: float | None = None
        self._held_score = 0.0
        self._recent: deque[float] = deque(maxlen=self.gate.smoothing_runs)
        self.last_run: BackboneRun | None = None  # set when the latest window ran stage two

    def score(
        self, window: FloatArray, audio: FloatArray, start_s: float, level_dbfs: float
    ) -> float:
        """``audio`` is the window's samples and ``level_dbfs`` their RMS (measured once, by
        the detector, which also reports it with every event)."""
        self.counters.windows += 1
        self.last_run = None
        small_score = self.small.score(window)
        if small_score >= self.gate.small_threshold or level_dbfs >= self.gate.level_dbfs:
            self._open_until = start_s + self.gate.hold_s
        if start_s > self._open_until:
            self._last_run_at = None
            self._held_score = 0.0
            self._recent.clear()
            return 0.0
        self.counters.gate_open_windows += 1
        due = (
            self._last_run_at is None
            or start_s - self._last_run_at >= self.gate.backbone_hop_s - HOP_TOLERANCE_S
        )
        if due:
            self._last_run_at = start_s
            output = self.backbone.run(audio)
            self.counters.backbone_runs += 1
            run_score = self.head.score(output)
            self._recent.append(run_score)
            # Nothing counts until the gate has seen smoothing_runs runs: a laugh that opens the
            # gate must not be judged on its one cry-like instant (a sound needs about 1.3 s).
            full = len(self._recent) == self.gate.smoothing_runs
            self._held_score = min(self._recent) if full else 0.0
            self.last_run = BackboneRun(
                start_s + self.window_s / 2.0, run_score, output.class_scores, output.embedding
            )
        return self._held_score
