"""The not-a-cry probe's contrastive projection learns what it is trained for.

Synthetic sources: each a point in 1,024 dimensions, rendered with a large shared nuisance
(the "bed and level" of a rendition) that is bigger than the gap between two sources. A plain
cosine nearest neighbour then often finds a rendition with the same nuisance; after training,
held-out renditions must find their own source almost always. A wrong gradient or a transform
that ignores the training fails this.
"""

from __future__ import annotations

import numpy as np

from tests.benchmarks.probe_not_a_cry_projection import fit_contrastive

SOURCES, RENDITIONS, DIM, NUISANCES = 40, 8, 1024, 6


def _world(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(sources, nuisances): the nuisances are larger than the gap between two sources."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (SOURCES, DIM)), rng.normal(0.0, 3.0, (NUISANCES, DIM))


def _renditions(
    sources: np.ndarray, nuisances: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    vectors, labels = [], []
    for index in range(SOURCES):
        for kind in rng.integers(0, NUISANCES, RENDITIONS):
            v = sources[index] + nuisances[kind] + rng.normal(0.0, 0.3, DIM)
            vectors.append(v / np.linalg.norm(v))
            labels.append(index)
    return np.asarray(vectors, np.float32), np.asarray(labels)


def _nearest_source_accuracy(points: np.ndarray, labels: np.ndarray) -> float:
    similarity = points @ points.T
    np.fill_diagonal(similarity, -np.inf)
    return float(np.mean(labels[np.argmax(similarity, axis=1)] == labels))


def test_renditions_of_one_source_end_up_together() -> None:
    sources, nuisances = _world(5)
    train, train_labels = _renditions(sources, nuisances, np.random.default_rng(1))
    # New renditions of the same sources (other nuisances, new noise) measure what it learned.
    held_out, held_labels = _renditions(sources, nuisances, np.random.default_rng(2))
    before = _nearest_source_accuracy(held_out, held_labels)

    project = fit_contrastive(train, train_labels, hidden=64, out=16, steps=300, seed=0)
    projected = np.stack([project(v) for v in held_out])  # type: ignore[misc]

    assert np.allclose(np.linalg.norm(projected, axis=1), 1.0, atol=1e-5)
    after = _nearest_source_accuracy(projected, held_labels)
    untrained = fit_contrastive(train, train_labels, hidden=64, out=16, steps=1, seed=0)
    barely = _nearest_source_accuracy(np.stack([untrained(v) for v in held_out]), held_labels)  # type: ignore[misc]
    assert before < 0.7, before  # the nuisance often wins without training
    assert barely < 0.7, barely  # a random projection does not do the work
    assert after > 0.95, (before, after)


def test_a_missing_fingerprint_stays_missing() -> None:
    train, labels = _renditions(*_world(5), np.random.default_rng(1))
    project = fit_contrastive(train, labels, hidden=16, out=8, steps=5, seed=0)
    assert project(None) is None
