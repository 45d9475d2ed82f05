"""The cry head: its arithmetic, its file and its blend with YAMNet's own cry class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.cry.backbone import CLASS_COUNT, EMBEDDING_SIZE, BackboneOutput
from models.cry.errors import ModelLoadError
from models.cry.head import HEAD_ARRAYS, LOGIT_CLIP, Blend, CryHead, logit, sigmoid

HIDDEN = 8


def head(blend: Blend | None = None, seed: int = 0) -> CryHead:
    rng = np.random.default_rng(seed)
    return CryHead(
        rng.standard_normal((EMBEDDING_SIZE, HIDDEN)).astype(np.float32) * 0.05,
        rng.standard_normal(HIDDEN).astype(np.float32),
        rng.standard_normal((HIDDEN, 1)).astype(np.float32),
        np.array([0.3], dtype=np.float32),
        blend or Blend(),
    )


def patches(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n, EMBEDDING_SIZE)).astype(np.float32)
    class_scores = rng.uniform(0.0, 1.0, (n, CLASS_COUNT)).astype(np.float32)
    return embeddings, class_scores


def test_logit_inverts_sigmoid_and_stays_finite_at_zero_and_one() -> None:
    x = np.linspace(-6.0, 6.0, 25)
    np.testing.assert_allclose(logit(sigmoid(x)), x, atol=1e-3)
    edges = logit([0.0, 1.0])
    assert np.all(np.isfinite(edges))
    bound = float(np.log(LOGIT_CLIP / (1.0 - LOGIT_CLIP)))
    np.testing.assert_allclose(edges, [bound, -bound], rtol=1e-4)  # float32 near 1


def test_head_logits_are_one_relu_layer_then_one_output() -> None:
    cry_head = head()
    embeddings, _ = patches(5)
    hidden = np.maximum(embeddings @ cry_head.hidden_weights + cry_head.hidden_bias, 0.0)
    expected = hidden @ cry_head.output_weights + 0.3
    np.testing.assert_allclose(cry_head.head_logits(embeddings), expected, rtol=1e-5, atol=1e-5)
    assert cry_head.head_logits(embeddings[0]).shape == ()  # one patch, one logit


def test_scores_blend_the_head_with_the_strongest_cry_class_by_hand() -> None:
    blend = Blend(head_weight=0.8, zero_shot_weight=0.5, bias=-0.2, cry_classes=(19, 20))
    cry_head = head(blend)
    embeddings, class_scores = patches(6)
    class_scores[0, 19], class_scores[0, 20] = 0.9, 0.1  # the stronger class counts
    class_scores[1, 19], class_scores[1, 20] = 0.0, 0.0  # clipped, not -inf
    zero_shot = np.log(
        np.clip(np.max(class_scores[:, [19, 20]], axis=1), 1e-4, 1 - 1e-4)
        / (1 - np.clip(np.max(class_scores[:, [19, 20]], axis=1), 1e-4, 1 - 1e-4))
    )
    expected = 1.0 / (
        1.0 + np.exp(-(0.8 * cry_head.head_logits(embeddings) + 0.5 * zero_shot - 0.2))
    )
    np.testing.assert_allclose(cry_head.scores(embeddings, class_scores), expected, rtol=1e-5)
    # One patch through ``score`` is the same number.
    single = BackboneOutput(class_scores[0], embeddings[0])
    assert cry_head.score(single) == pytest.approx(float(expected[0]), rel=1e-5)


def test_with_a_zero_weight_yamnets_classes_do_not_matter() -> None:
    cry_head = head(Blend(zero_shot_weight=0.0))
    embeddings, class_scores = patches(4)
    np.testing.assert_array_equal(
        cry_head.scores(embeddings, class_scores),
        cry_head.scores(embeddings, np.zeros_like(class_scores)),
    )
    np.testing.assert_allclose(
        cry_head.scores(embeddings, class_scores), sigmoid(cry_head.head_logits(embeddings))
    )


def test_with_blend_changes_the_blend_and_keeps_the_weights() -> None:
    cry_head = head()
    reblended = cry_head.with_blend(Blend(zero_shot_weight=0.25))
    assert reblended.blend.zero_shot_weight == 0.25
    assert cry_head.blend.zero_shot_weight == 0.0
    for mine, theirs in zip(cry_head.arrays(), reblended.arrays(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_saved_head_loads_with_the_same_scores(tmp_path: Path) -> None:
    blend = Blend(zero_shot_weight=0.5, cry_classes=(19, 20))
    cry_head = head(blend)
    cry_head.save(tmp_path / "head.npz")
    loaded = CryHead.load(tmp_path / "head.npz", blend)
    embeddings, class_scores = patches(10)
    np.testing.assert_array_equal(
        loaded.scores(embeddings, class_scores), cry_head.scores(embeddings, class_scores)
    )
    with np.load(tmp_path / "head.npz") as arrays:
        assert sorted(arrays.files) == sorted(HEAD_ARRAYS)


def test_blend_round_trips_and_has_defaults() -> None:
    blend = Blend(head_weight=1.5, zero_shot_weight=0.25, bias=-1.0, cry_classes=(19, 20))
    assert Blend.from_dict(blend.to_dict()) == blend
    assert Blend.from_dict({}) == Blend()


@pytest.mark.parametrize("classes", [20, "20", [20, "19"], [20.0], (19, 20), None])
def test_blend_refuses_cry_classes_that_are_not_a_list_of_indices(classes: object) -> None:
    with pytest.raises(ValueError, match="cry_classes"):
        Blend.from_dict({"cry_classes": classes})


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def test_a_malformed_head_file_is_a_model_load_error(tmp_path: Path) -> None:
    good = dict(zip(HEAD_ARRAYS, head().arrays(), strict=True))
    missing = write_npz(
        tmp_path / "missing.npz", **{k: v for k, v in good.items() if k != "hidden_bias"}
    )
    with pytest.raises(ModelLoadError, match="hidden_bias"):
        CryHead.load(missing, Blend())
    mismatched = write_npz(tmp_path / "mismatched.npz", **(good | {"hidden_bias": np.zeros(3)}))
    with pytest.raises(ModelLoadError, match="malformed"):
        CryHead.load(mismatched, Blend())
    wrong_output = write_npz(tmp_path / "output.npz", **(good | {"output_weights": np.zeros(5)}))
    with pytest.raises(ModelLoadError, match="malformed"):
        CryHead.load(wrong_output, Blend())
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a numpy file at all")
    with pytest.raises(ModelLoadError, match="cannot load the cry head"):
        CryHead.load(garbage, Blend())
    with pytest.raises(ModelLoadError, match="cannot load the cry head"):
        CryHead.load(tmp_path / "absent.npz", Blend())
