"""Renditions -> YAMNet patches: embeddings, class scores and labels for the head."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.cry.backbone import PATCH_SAMPLES, YamnetBackbone, patch_starts
from models.training.renditions import Rendition

FloatArray = npt.NDArray[np.float32]
TRAINING_HOP = 7_680  # 0.48 s, YAMNet's own hop
MIN_ACTIVE_S = 0.3  # a cry patch must hold this much of the cry itself to be labelled crying


@dataclass
class PatchSet:
    embeddings: FloatArray  # (n, 1024)
    class_scores: FloatArray  # (n, 521)
    labels: npt.NDArray[np.int8]  # 1 cry, 0 not, -1 a cry rendition's patch without crying
    rendition: npt.NDArray[np.int32]  # index into ``renditions``
    renditions: list[Rendition]


def _active_samples(rendition: Rendition, start: int) -> int:
    end = start + PATCH_SAMPLES
    return sum(max(0, min(end, b) - max(start, a)) for a, b in rendition.active)


def featurize(
    renditions: Iterable[Rendition],
    backbone: YamnetBackbone,
    hop: int = TRAINING_HOP,
    progress: Callable[[int], None] | None = None,
) -> PatchSet:
    embeddings: list[FloatArray] = []
    scores: list[FloatArray] = []
    labels: list[int] = []
    owners: list[int] = []
    kept: list[Rendition] = []
    for index, rendition in enumerate(renditions):
        kept.append(rendition)
        for start in patch_starts(len(rendition.audio), hop):
            output = backbone.run(rendition.audio[start : start + PATCH_SAMPLES])
            embeddings.append(output.embedding)
            scores.append(output.class_scores)
            owners.append(index)
            if not rendition.is_cry:
                labels.append(0)
            else:
                enough = _active_samples(rendition, start) >= MIN_ACTIVE_S * 16_000
                labels.append(1 if enough else -1)
        if progress is not None and index % 500 == 0:
            progress(index)
    return PatchSet(
        np.stack(embeddings).astype(np.float32),
        np.stack(scores).astype(np.float32),
        np.array(labels, dtype=np.int8),
        np.array(owners, dtype=np.int32),
        kept,
    )
