"""Clip-level metrics: ROC AUC, precision, recall, F1 - overall and per source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Mann-Whitney AUC with ties counted half; None when only one class is present."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_scores = s[order]
    # Average ranks over ties.
    unique, first_index, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    del unique
    average_rank = first_index + (counts + 1) / 2.0
    ranks[order] = np.repeat(average_rank, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass(frozen=True)
class ClipMetrics:
    n: int
    n_cry: int
    n_not_cry: int
    true_positives: int
    false_positives: int
    auc: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    false_positive_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def clip_metrics(labels: Sequence[bool], scores: Sequence[float], threshold: float) -> ClipMetrics:
    """Metrics at ``threshold``; undefined ones (e.g. recall without cries) are None."""
    y = np.asarray(labels, dtype=bool)
    predicted = np.asarray(scores, dtype=np.float64) >= threshold
    tp = int(np.sum(predicted & y))
    fp = int(np.sum(predicted & ~y))
    n_cry, n_not = int(y.sum()), int((~y).sum())
    # Precision (and so F1) of a one-class subset says nothing about the model: undefined.
    precision = _ratio(tp, tp + fp) if n_cry and n_not else None
    recall = _ratio(tp, n_cry)
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ClipMetrics(
        n=len(y),
        n_cry=n_cry,
        n_not_cry=n_not,
        true_positives=tp,
        false_positives=fp,
        auc=roc_auc(y.tolist(), list(scores)),
        precision=precision,
        recall=recall,
        f1=f1,
        false_positive_rate=_ratio(fp, n_not),
    )


def best_f1_threshold(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """The lowest threshold with the best F1, moved halfway down to the next lower score.

    Placing it between two observed scores keeps every validation decision the same while
    leaving a margin below the weakest accepted cry.
    """
    candidates = np.unique(np.asarray(scores, dtype=np.float64))
    f1s = np.array([clip_metrics(labels, scores, t).f1 or 0.0 for t in candidates])
    index = int(np.argmax(f1s))
    if index == 0:
        return float(candidates[0])
    return float((candidates[index - 1] + candidates[index]) / 2.0)
