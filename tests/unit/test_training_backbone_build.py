"""Building the shipped YAMNet copy (embedding as an output) from Google's file (TensorFlow)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from models.artifacts import ARTIFACTS_DIR
from models.cry.backbone import CLASS_COUNT, EMBEDDING_SIZE, PATCH_SAMPLES, YamnetBackbone
from models.training.backbone_build import BackboneBuildError, build_backbone
from tests.harness.external_material import material_path, missing_tool

YAMNET_SOURCE = "models/yamnet"


@pytest.fixture(autouse=True)
def _tensorflow() -> None:
    """The flatbuffer tools come with TensorFlow (the train extra); found without importing
    it. A clone without the extra skips; CI, whose setup installs it, fails instead."""
    if importlib.util.find_spec("tensorflow") is None:
        missing_tool("needs TensorFlow (pip install -e '.[train]'; .ci/setup tests does)")


@pytest.mark.needs_material(YAMNET_SOURCE, "Google's YAMNet TFLite file")
def test_the_build_lists_scores_and_embedding_and_reproduces_the_shipped_file(
    tmp_path: Path,
) -> None:
    source = material_path(YAMNET_SOURCE) / "yamnet.tflite"
    built = build_backbone(source, tmp_path / "out" / "yamnet_embedding.tflite")
    assert built == tmp_path / "out" / "yamnet_embedding.tflite"
    from models.cry.runtime import interpreter_class

    interpreter = interpreter_class()(model_path=str(built))
    shapes = [int(d["shape"][-1]) for d in interpreter.get_output_details()]
    assert shapes == [CLASS_COUNT, EMBEDDING_SIZE]
    # No weight changed and nothing else: the shipped copy is exactly what the build makes.
    assert built.read_bytes() == (ARTIFACTS_DIR / "yamnet_embedding.tflite").read_bytes()
    output = YamnetBackbone(built).run(np.zeros(PATCH_SAMPLES, dtype=np.float32))
    assert output.embedding.shape == (EMBEDDING_SIZE,)


def test_a_model_that_is_not_yamnet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackboneBuildError, match="not YAMNet"):
        build_backbone(ARTIFACTS_DIR / "cry_detector.tflite", tmp_path / "out.tflite")
    assert not (tmp_path / "out.tflite").exists()
