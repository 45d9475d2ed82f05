"""A cry episode's sound fingerprint, and how alike two of them are.

The fingerprint is the mean of the YAMNet embeddings (1,024 values) of the stage-two runs over
an episode, scaled to unit length. It says what kind of sound it was - the same dog's whine, the
same squeaky toy - well enough to recognise it again, and nothing a person could listen to: it
is 0.96 s patches averaged into one point, with no order and no waveform. It never leaves the
device (docs/alarms.md, "Not a cry").

Two fingerprints are compared by cosine similarity (the dot product of unit vectors).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from models.cry.cascade import BackboneRun

FloatArray = npt.NDArray[np.float32]
FINGERPRINT_SIZE = 1024


def episode_fingerprint(runs: Sequence[BackboneRun]) -> FloatArray | None:
    """The unit-length mean embedding of ``runs``; None without runs (no stage two ran) or
    when the mean is zero (nothing to compare)."""
    if not runs:
        return None
    mean = np.mean(np.stack([run.embedding for run in runs]), axis=0).astype(np.float32)
    return normalised(mean)


def normalised(vector: npt.ArrayLike) -> FloatArray | None:
    """``vector`` scaled to unit length as float32; None if it is zero or not finite."""
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    return (array / norm).astype(np.float32)


def similarity(a: FloatArray, b: FloatArray) -> float:
    """Cosine similarity of two unit fingerprints, clamped to [0, 1] (opposite sounds are as
    unlike as unrelated ones for this purpose)."""
    if a.shape != b.shape:
        raise ValueError(f"fingerprints of different sizes: {a.shape} and {b.shape}")
    return min(max(float(np.dot(a, b)), 0.0), 1.0)


def best_match(
    fingerprint: FloatArray, candidates: Sequence[FloatArray]
) -> tuple[int, float] | None:
    """The index of the candidate most like ``fingerprint`` and its similarity; None when
    there are no candidates."""
    if not candidates:
        return None
    scores = np.stack(candidates) @ fingerprint
    best = int(np.argmax(scores))
    return best, min(max(float(scores[best]), 0.0), 1.0)
