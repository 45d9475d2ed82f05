"""Model manifest validation (sha256, schema) and the TFLite runtime loader's error message."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from models.cry import default_model_manifest_path, load_manifest
from models.cry.errors import ModelLoadError, RuntimeMissingError
from models.cry.runtime import interpreter_class


def copy_shipped_model(tmp_path: Path) -> Path:
    shipped = default_model_manifest_path()
    data = json.loads(shipped.read_text())
    shutil.copy(shipped, tmp_path / shipped.name)
    shutil.copy(shipped.parent / data["model_file"], tmp_path / data["model_file"])
    return tmp_path / shipped.name


def test_shipped_manifest_loads_and_matches_its_model() -> None:
    manifest = load_manifest(default_model_manifest_path())
    assert manifest.model_path.is_file()
    assert manifest.features.fmax_hz < 4000.0  # the band limit that hides 8 vs 16 kHz audio
    assert 0.0 < manifest.hysteresis.off_threshold <= manifest.threshold < 1.0
    assert manifest.model_path.stat().st_size <= 100 * 1024


def test_sha256_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    manifest_path = copy_shipped_model(tmp_path)
    model_file = tmp_path / json.loads(manifest_path.read_text())["model_file"]
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    with pytest.raises(ModelLoadError, match="sha256 mismatch"):
        load_manifest(manifest_path)
    assert load_manifest(manifest_path, verify_sha256=False).model_path == model_file


def test_missing_manifest_and_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_manifest(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(ModelLoadError, match="lacks keys"):
        load_manifest(broken)
    broken.write_text("{not json")
    with pytest.raises(ModelLoadError, match="not JSON"):
        load_manifest(broken)


def test_invalid_feature_parameters_are_reported(tmp_path: Path) -> None:
    manifest_path = copy_shipped_model(tmp_path)
    data = json.loads(manifest_path.read_text())
    data["features"]["fmax_hz"] = 1e6
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="invalid parameters"):
        load_manifest(manifest_path)


def test_runtime_loader_names_the_packages_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail as if the package were absent.
    for module in (
        "ai_edge_litert",
        "ai_edge_litert.interpreter",
        "tflite_runtime",
        "tflite_runtime.interpreter",
    ):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(RuntimeMissingError) as caught:
        interpreter_class()
    message = str(caught.value)
    assert "pip install ai-edge-litert" in message
    assert "pip install tflite-runtime" in message


def test_runtime_loader_finds_litert() -> None:
    assert interpreter_class().__name__ == "Interpreter"
