"""The model manifest: the JSON next to a .tflite that freezes its front end and thresholds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.cry.episodes import HysteresisParams
from models.cry.errors import ModelLoadError
from models.cry.features import LogMelParams, WindowParams

SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema_version", "model_file", "sha256", "features", "windows", "hysteresis")


@dataclass(frozen=True)
class ModelManifest:
    path: Path
    model_path: Path
    sha256: str
    features: LogMelParams
    windows: WindowParams
    hysteresis: HysteresisParams
    output_is_logit: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def threshold(self) -> float:
        """The clip-level decision threshold (also the onset threshold of the hysteresis)."""
        return self.hysteresis.on_threshold


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model manifest not found: {path}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"model manifest {path} is unreadable or not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"model manifest {path} must hold a JSON object")
    return data


def load_manifest(path: str | Path, verify_sha256: bool = True) -> ModelManifest:
    """Parse and validate a manifest; check the model file's sha256 unless told not to."""
    manifest_path = Path(path)
    data = _read_json(manifest_path)
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ModelLoadError(f"model manifest {manifest_path} lacks keys {missing}")
    if data["schema_version"] != SCHEMA_VERSION:
        raise ModelLoadError(
            f"model manifest {manifest_path} has schema_version {data['schema_version']}, "
            f"this code reads {SCHEMA_VERSION}"
        )
    try:
        features = LogMelParams.from_dict(data["features"])
        windows = WindowParams.from_dict(data["windows"])
        hysteresis = HysteresisParams.from_dict(data["hysteresis"])
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(
            f"model manifest {manifest_path} has invalid parameters: {exc}"
        ) from exc
    model_path = manifest_path.parent / str(data["model_file"])
    if not model_path.is_file():
        raise ModelLoadError(f"model file {model_path} named by {manifest_path} does not exist")
    expected = str(data["sha256"]).lower()
    if verify_sha256:
        actual = sha256_of(model_path)
        if actual != expected:
            raise ModelLoadError(
                f"sha256 mismatch for {model_path}: manifest says {expected}, file is {actual}"
            )
    output_is_logit = data.get("output_kind", "probability") == "logit"
    return ModelManifest(
        manifest_path, model_path, expected, features, windows, hysteresis, output_is_logit, data
    )
