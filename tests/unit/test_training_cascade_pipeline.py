"""Stage two's pipeline pieces: stage one's manifest, the clip rule, the blend, the loss weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.artifacts import ARTIFACTS_DIR, MANIFEST_PATH
from models.cry.backbone import CLASS_COUNT, EMBEDDING_SIZE
from models.cry.episodes import HysteresisParams
from models.cry.head import Blend, CryHead
from models.training.cascade_pipeline import (
    CascadeConfig,
    choose_blend,
    pair_min_clip_scores,
    stage_one,
)
from models.training.head_train import HeadParams, sample_weights
from models.training.patches import PatchSet
from models.training.renditions import Rendition


def rendition(cry: bool, source: str = "donateacry", clip: str = "c.flac") -> Rendition:
    return Rendition(np.zeros(1, np.float32), cry, source, "clean", clip)


def patch_set(
    renditions: list[Rendition],
    owners: list[int],
    labels: list[int] | None = None,
    embeddings: np.ndarray | None = None,
    class_scores: np.ndarray | None = None,
) -> PatchSet:
    n = len(owners)
    return PatchSet(
        np.zeros((n, EMBEDDING_SIZE), np.float32) if embeddings is None else embeddings,
        np.zeros((n, CLASS_COUNT), np.float32) if class_scores is None else class_scores,
        np.array(
            labels if labels is not None else [int(renditions[i].is_cry) for i in owners], np.int8
        ),
        np.array(owners, dtype=np.int32),
        renditions,
    )


# ---- the clip rule: the best of the lower of two consecutive patches ----


def test_a_clip_scores_the_best_pair_of_consecutive_patches() -> None:
    renditions = [rendition(True) for _ in range(5)]
    patches = patch_set(renditions, [0, 0, 0, 1, 2, 2, 3, 3, 3])
    logits = np.array([1.0, 5.0, 4.0, 3.0, -1.0, 2.0, 0.0, 9.0, 0.0])
    scores = pair_min_clip_scores(patches, logits)
    assert scores[0] == 4.0  # min(5, 4)
    assert scores[1] == 3.0  # one patch: its own score
    assert scores[2] == -1.0
    assert scores[3] == 0.0  # one loud patch alone is not sustained crying
    assert scores[4] == -np.inf  # no patches at all
    assert scores.shape == (5,)


# ---- the blend weight, on validation ----


def config() -> CascadeConfig:
    here = Path(".")
    return CascadeConfig(here, here, here, here, here, zero_shot_weights=(0.0, 0.25, 0.5))


def validation(head_knows: bool, yamnet_knows: bool, flip_yamnet: bool = False) -> PatchSet:
    """Ten cries and ten others, two patches each; the head and/or YAMNet's class can tell."""
    renditions = [rendition(i < 10) for i in range(20)]
    owners = [i for i in range(20) for _ in range(2)]
    embeddings = np.zeros((40, EMBEDDING_SIZE), np.float32)
    class_scores = np.full((40, CLASS_COUNT), 0.001, np.float32)
    for row, owner in enumerate(owners):
        cry = renditions[owner].is_cry
        if head_knows:
            embeddings[row, 0] = 1.0 if cry else -1.0
        if yamnet_knows:
            cry_like = cry != flip_yamnet
            class_scores[row, 20] = 0.999 if cry_like else 0.001
    return patch_set(renditions, owners, embeddings=embeddings, class_scores=class_scores)


def dim0_head() -> CryHead:
    """Logit +2 for an embedding with dimension 0 at +1, -2 at -1 or 0."""
    hidden = np.zeros((EMBEDDING_SIZE, 1), np.float32)
    hidden[0, 0] = 4.0
    return CryHead(
        hidden, np.zeros(1, np.float32), np.ones((1, 1), np.float32), np.array([-2.0]), Blend()
    )


def test_yamnets_cry_class_gets_weight_when_the_head_cannot_tell() -> None:
    blend, f1_by_weight = choose_blend(dim0_head(), validation(False, True), config())
    assert f1_by_weight["0.25"] == f1_by_weight["0.5"] == 1.0
    assert f1_by_weight["0"] < 1.0
    assert blend.zero_shot_weight == 0.25  # the first weight with the best F1
    assert blend.cry_classes == config().cry_classes


def test_a_misleading_cry_class_gets_no_weight() -> None:
    blend, f1_by_weight = choose_blend(
        dim0_head(), validation(True, True, flip_yamnet=True), config()
    )
    assert f1_by_weight["0"] == 1.0
    assert f1_by_weight["0.5"] < 1.0
    assert blend.zero_shot_weight == 0.0


# ---- loss weights ----


def test_cries_balance_the_others_and_hard_negatives_count_more() -> None:
    renditions = [
        rendition(True, "donateacry", "cry/a.flac"),
        rendition(False, "speech_commands", "not_cry/speech/b.flac"),
        rendition(False, "esc50", "not_cry/esc50/dog/c.flac"),
        rendition(False, "home_recordings", "not_cry/home_recordings/laugh/d.flac"),
        rendition(True, "esc50", "cry/esc50/crying_baby/e.flac"),
    ]
    owners = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4]
    labels = [1, 1, 1, -1, 0, 0, 0, 0, 0, 0, 0, 1]
    params = HeadParams(hard_negative_weight=20.0)
    weights = sample_weights(patch_set(renditions, owners, labels), params, ("esc50",))
    others, cries = 7, 4
    expected = [others / cries] * 3 + [1.0] + [1.0] * 4 + [20.0] * 3 + [others / cries]
    np.testing.assert_allclose(weights, expected)
    # A cry from a hard source is a cry: balanced, not weighted as a hard negative.
    assert weights[-1] == pytest.approx(others / cries)
    positive = np.array(labels) == 1
    assert weights[positive].sum() == pytest.approx((np.array(labels) == 0).sum())


def test_without_hard_sources_only_laughter_is_hard() -> None:
    renditions = [rendition(False, "esc50", "dog.flac"), rendition(False, "x", "a/laugh_1.flac")]
    weights = sample_weights(patch_set(renditions, [0, 1], [0, 0]), HeadParams(), ())
    np.testing.assert_allclose(weights, [1.0, HeadParams().hard_negative_weight])


# ---- stage one, read from the output folder ----


def shipped_stage_one() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST_PATH.read_text())
    return dict(data.get("stage_one", data))


def small_model_folder(folder: Path, manifest: dict[str, Any]) -> Path:
    shutil.copyfile(ARTIFACTS_DIR / manifest["model_file"], folder / manifest["model_file"])
    (folder / "cry_detector.json").write_text(json.dumps(manifest))
    return folder


def test_stage_one_of_a_small_model_is_its_manifest_and_thresholds(tmp_path: Path) -> None:
    small = shipped_stage_one()
    manifest, fallback, data = stage_one(small_model_folder(tmp_path, small))
    assert fallback == HysteresisParams.from_dict(small["hysteresis"])
    assert data == small
    assert manifest.model_path == tmp_path / small["model_file"]


def test_stage_one_of_a_cascade_is_the_small_models_own_part(tmp_path: Path) -> None:
    """Retraining stage two over an earlier cascade keeps the small model's own thresholds."""
    small = shipped_stage_one()
    fallback = HysteresisParams(on_threshold=0.77, off_threshold=0.3)
    cascade = {
        **small,
        "schema_version": 2,
        "hysteresis": HysteresisParams(on_threshold=0.42, off_threshold=0.2).to_dict(),
        "cascade": {
            "backbone": {"model_file": "b.tflite", "sha256": "0", "class_map": "m.csv"},
            "head": {"file": "h.npz", "sha256": "0"},
            "fallback_hysteresis": fallback.to_dict(),
        },
        "stage_one": small,
    }
    _, hysteresis, data = stage_one(small_model_folder(tmp_path, cascade))
    assert hysteresis == fallback
    assert data == small
    assert "cascade" not in data
