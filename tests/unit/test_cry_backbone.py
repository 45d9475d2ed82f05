"""YAMNet as stage two runs it: patches, the shipped file's outputs, and what it refuses."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from models.artifacts import ARTIFACTS_DIR
from models.cry.backbone import (
    CLASS_COUNT,
    EMBEDDING_SIZE,
    PATCH_SAMPLES,
    YamnetBackbone,
    fit_patch,
    patch_starts,
    read_class_names,
)
from models.cry.errors import ModelLoadError
from tests.harness.external_material import material_path

SHIPPED = ARTIFACTS_DIR / "yamnet_embedding.tflite"
CLASS_MAP = ARTIFACTS_DIR / "yamnet_class_map.csv"
YAMNET_SOURCE = "models/yamnet"  # Google's YAMNet, in the development material
RATE = 16_000


@pytest.fixture(scope="module")
def backbone() -> YamnetBackbone:
    return YamnetBackbone(SHIPPED)


@pytest.mark.parametrize("n", [1, 7_680, PATCH_SAMPLES])
def test_a_clip_no_longer_than_a_patch_gets_one_patch(n: int) -> None:
    assert patch_starts(n, 7_680) == [0]


@pytest.mark.parametrize("hop", [1_600, 4_800, 7_680])
@pytest.mark.parametrize("n", [PATCH_SAMPLES + 1, 20_000, 48_000, 48_123])
def test_patches_cover_the_whole_clip_and_its_tail(n: int, hop: int) -> None:
    starts = patch_starts(n, hop)
    assert starts[0] == 0
    assert starts[-1] + PATCH_SAMPLES == n  # the last patch ends at the clip's end
    assert all(0 < b - a <= hop for a, b in itertools.pairwise(starts))
    assert all(start + PATCH_SAMPLES <= n for start in starts)  # all full patches


def test_a_clip_that_ends_on_the_hop_gets_no_extra_patch() -> None:
    n = PATCH_SAMPLES + 2 * 7_680
    assert patch_starts(n, 7_680) == [0, 7_680, 15_360]


def test_fit_patch_pads_in_front_and_keeps_the_last_samples() -> None:
    short = np.arange(1, 101, dtype=np.float32)
    fitted = fit_patch(short)
    assert fitted.shape == (PATCH_SAMPLES,)
    assert not fitted[: PATCH_SAMPLES - 100].any()
    np.testing.assert_array_equal(fitted[-100:], short)
    long = np.arange(PATCH_SAMPLES + 50, dtype=np.float32)
    np.testing.assert_array_equal(fit_patch(long), long[50:])
    assert fit_patch(np.ones((1, 20), dtype=np.float64)).dtype == np.float32


def test_the_shipped_backbone_gives_521_scores_and_a_1024_embedding(
    backbone: YamnetBackbone,
) -> None:
    patch = (0.3 * np.random.default_rng(0).standard_normal(PATCH_SAMPLES)).astype(np.float32)
    output = backbone.run(patch)
    assert output.class_scores.shape == (CLASS_COUNT,)
    assert output.embedding.shape == (EMBEDDING_SIZE,)
    assert output.class_scores.dtype == output.embedding.dtype == np.float32
    assert np.all((output.class_scores >= 0.0) & (output.class_scores <= 1.0))
    assert np.all(np.isfinite(output.embedding))
    assert np.any(output.embedding != 0.0)


def test_the_class_map_and_the_scores_agree(backbone: YamnetBackbone) -> None:
    names = read_class_names(CLASS_MAP)
    assert len(names) == CLASS_COUNT
    assert names[20] == "Baby cry, infant cry"
    silence = backbone.run(np.zeros(PATCH_SAMPLES, dtype=np.float32))
    assert names[int(np.argmax(silence.class_scores))] == "Silence"
    t = np.arange(PATCH_SAMPLES) / RATE
    beep = backbone.run((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32))
    assert names[int(np.argmax(beep.class_scores))] == "Beep, bleep"


def test_outputs_are_copies_and_short_or_long_input_is_fitted(backbone: YamnetBackbone) -> None:
    rng = np.random.default_rng(1)
    first_patch = (0.2 * rng.standard_normal(PATCH_SAMPLES)).astype(np.float32)
    first = backbone.run(first_patch)
    kept = first.embedding.copy()
    backbone.run(np.zeros(PATCH_SAMPLES, dtype=np.float32))
    np.testing.assert_array_equal(first.embedding, kept)  # the next run did not overwrite it
    short = first_patch[-8_000:]
    np.testing.assert_array_equal(
        backbone.run(short).embedding, backbone.run(fit_patch(short)).embedding
    )
    long = np.concatenate([np.ones(5_000, np.float32), first_patch])
    np.testing.assert_array_equal(backbone.run(long).embedding, first.embedding)


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "yamnet_embedding.tflite"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="cannot load the backbone"):
        YamnetBackbone(path)


def test_a_model_that_does_not_take_a_patch_is_refused() -> None:
    with pytest.raises(ModelLoadError, match=f"{PATCH_SAMPLES}-sample patch"):
        YamnetBackbone(ARTIFACTS_DIR / "cry_detector.tflite")  # stage one: log-mel windows


@pytest.mark.needs_material(YAMNET_SOURCE, "Google's YAMNet TFLite file")
def test_yamnet_without_the_embedding_output_is_refused_and_says_how_to_build_it() -> None:
    original = material_path(YAMNET_SOURCE) / "yamnet.tflite"
    with pytest.raises(ModelLoadError, match="1024-value embedding") as caught:
        YamnetBackbone(original)
    assert "nursery-model backbone" in str(caught.value)


def write_class_map(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["index,mid,display_name", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_class_names_are_read_in_index_order(tmp_path: Path) -> None:
    rows = [(str(i), f"/m/{i}", f"class {i}") for i in range(CLASS_COUNT)]
    path = write_class_map(tmp_path / "map.csv", list(reversed(rows)))
    assert read_class_names(path) == [f"class {i}" for i in range(CLASS_COUNT)]


def test_a_short_or_broken_class_map_is_refused(tmp_path: Path) -> None:
    rows = [(str(i), f"/m/{i}", f"class {i}") for i in range(CLASS_COUNT - 1)]
    with pytest.raises(ModelLoadError, match=f"lists {CLASS_COUNT - 1} classes"):
        read_class_names(write_class_map(tmp_path / "short.csv", rows))
    broken = tmp_path / "broken.csv"
    broken.write_text("index,mid,name\n0,/m/0,Speech\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="cannot read the AudioSet class map"):
        read_class_names(broken)
    not_numbered = write_class_map(tmp_path / "words.csv", [("zero", "/m/0", "Speech")] * 2)
    with pytest.raises(ModelLoadError, match="cannot read"):
        read_class_names(not_numbered)
    with pytest.raises(ModelLoadError, match="cannot read"):
        read_class_names(tmp_path / "absent.csv")
