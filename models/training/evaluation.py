"""Clip-level evaluation of a detector over a data manifest (a clip's score = its best window)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.cry.audio import load_audio
from models.cry.detector import CryDetector
from models.training.dataset import Clip
from models.training.metrics import ClipMetrics, clip_metrics

LOG = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ScoredClip:
    clip: Clip
    score: float


@dataclass(frozen=True)
class EvaluationReport:
    threshold: float
    overall: ClipMetrics
    per_source: dict[str, ClipMetrics]
    counts_per_label: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        overall = self.overall
        return {
            "auc": overall.auc,
            "precision": overall.precision,
            "recall": overall.recall,
            "f1": overall.f1,
            "threshold": self.threshold,
            "n": overall.n,
            "counts_per_label": self.counts_per_label,
            "per_source": {name: m.to_dict() for name, m in self.per_source.items()},
        }


def score_clips(
    detector: CryDetector,
    clips: Sequence[Clip],
    data_root: Path,
    decoded: Mapping[str, FloatArray] | None = None,
    progress: Progress | None = None,
) -> list[ScoredClip]:
    """Max window score of every clip; audio from ``decoded`` when given, else from disk."""
    scored = []
    for index, clip in enumerate(clips):
        if decoded is not None and clip.path in decoded:
            audio = decoded[clip.path]
        else:
            audio = load_audio(data_root / clip.path, detector.sample_rate)
        scored.append(ScoredClip(clip, detector.analyze(audio, detector.sample_rate).max_score))
        if progress is not None:
            progress(index + 1, len(clips))
    return scored


def report(scored: Sequence[ScoredClip], threshold: float) -> EvaluationReport:
    def metrics(items: Sequence[ScoredClip]) -> ClipMetrics:
        return clip_metrics([s.clip.is_cry for s in items], [s.score for s in items], threshold)

    sources = sorted({s.clip.source for s in scored})
    return EvaluationReport(
        threshold=threshold,
        overall=metrics(scored),
        per_source={
            name: metrics([s for s in scored if s.clip.source == name]) for name in sources
        },
        counts_per_label=dict(sorted(Counter(s.clip.label for s in scored).items())),
    )


def _fmt(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.3f}"


def format_report(result: EvaluationReport) -> str:
    """A human-readable table; 'n/a' marks metrics a source cannot define (one class only)."""
    header = (
        f"{'source':<18}{'n':>6}{'cry':>6}{'AUC':>8}{'prec':>8}{'recall':>8}{'F1':>8}{'FPR':>8}"
    )
    lines = [
        f"threshold {result.threshold:.4f}; clips per label: {result.counts_per_label}",
        header,
        "-" * len(header),
    ]
    rows = [*result.per_source.items(), ("OVERALL", result.overall)]
    for name, m in rows:
        lines.append(
            f"{name:<18}{m.n:>6}{m.n_cry:>6}  {_fmt(m.auc)}  {_fmt(m.precision)}  "
            f"{_fmt(m.recall)}  {_fmt(m.f1)}  {_fmt(m.false_positive_rate)}"
        )
    return "\n".join(lines)
