"""Renditions to YAMNet patches: which patches are labelled crying."""

from __future__ import annotations

import numpy as np
import pytest

from models.artifacts import ARTIFACTS_DIR
from models.cry.backbone import CLASS_COUNT, EMBEDDING_SIZE, PATCH_SAMPLES, YamnetBackbone
from models.training.patches import MIN_ACTIVE_S, TRAINING_HOP, featurize
from models.training.renditions import RATE, Rendition

MIN_ACTIVE = int(MIN_ACTIVE_S * RATE)


@pytest.fixture(scope="module")
def backbone() -> YamnetBackbone:
    return YamnetBackbone(ARTIFACTS_DIR / "yamnet_embedding.tflite")


def audio(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


def test_cry_patches_without_enough_crying_are_left_unlabelled(backbone: YamnetBackbone) -> None:
    # 3 s: patches start at 0, 7680, 15360, 23040, 30720 and the tail's 32400.
    cry = Rendition(audio(3.0), True, "donateacry", "clean", "cry/a.flac", ((0, 8_000),))
    patches = featurize([cry], backbone)
    assert patches.labels.tolist() == [1, -1, -1, -1, -1, -1]
    # Crying at the clip's end: only the patches reaching 0.3 s into it (30720 and the tail).
    late = Rendition(audio(3.0), True, "donateacry", "clean", "cry/b.flac", ((40_000, 48_000),))
    assert featurize([late], backbone).labels.tolist() == [-1, -1, -1, -1, 1, 1]


def test_the_active_threshold_is_inclusive_and_adds_up_over_ranges(
    backbone: YamnetBackbone,
) -> None:
    def label(active: tuple[tuple[int, int], ...]) -> int:
        short = Rendition(audio(0.9), True, "s", "clean", "c", active)
        return int(featurize([short], backbone).labels[0])

    assert label(((100, 100 + MIN_ACTIVE),)) == 1
    assert label(((100, 100 + MIN_ACTIVE - 1),)) == -1
    half = MIN_ACTIVE // 2
    assert label(((0, half), (5_000, 5_000 + MIN_ACTIVE - half))) == 1  # two bursts together


def test_non_cries_are_negatives_and_every_patch_is_kept_with_its_owner(
    backbone: YamnetBackbone,
) -> None:
    renditions = [
        Rendition(audio(2.0, 1), False, "esc50", "clean", "dog.flac", ((0, 32_000),)),
        Rendition(audio(0.5, 2), True, "donateacry", "clean", "cry.flac", ((0, 8_000),)),
        Rendition(audio(1.5, 3), False, "bed:fan", "-40 dBFS", "fan"),
    ]
    patches = featurize(renditions, backbone)
    n = 4 + 1 + 3  # 2 s: three on the hop and the tail; 0.5 s: one padded; 1.5 s: two and the tail
    assert patches.embeddings.shape == (n, EMBEDDING_SIZE)
    assert patches.class_scores.shape == (n, CLASS_COUNT)
    assert patches.rendition.tolist() == [0, 0, 0, 0, 1, 2, 2, 2]
    assert patches.labels.tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    assert patches.renditions == renditions
    # Each row is the backbone's output for that patch.
    tail = renditions[0].audio[-PATCH_SAMPLES:]
    np.testing.assert_array_equal(patches.embeddings[3], backbone.run(tail).embedding)


def test_a_hop_gives_more_patches(backbone: YamnetBackbone) -> None:
    clip = Rendition(audio(3.0), False, "s", "clean", "c")
    assert len(featurize([clip], backbone, hop=TRAINING_HOP // 2).labels) > len(
        featurize([clip], backbone).labels
    )
