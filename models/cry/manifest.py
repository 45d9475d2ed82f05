"""The model manifest: the JSON next to a .tflite that freezes its front end and thresholds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.cry.cascade import GateParams
from models.cry.episodes import HysteresisParams
from models.cry.errors import ModelLoadError
from models.cry.features import LogMelParams, WindowParams
from models.cry.head import Blend


@dataclass(frozen=True)
class CascadeSpec:
    """Stage two of the detector: where its files are and how the gate opens.

    The manifest's own ``hysteresis`` belongs to the cascade's score; the small model's own
    thresholds (``fallback_hysteresis``) apply when stage two cannot load (degraded mode).
    """

    backbone_path: Path
    backbone_sha256: str
    class_map_path: Path
    class_map_sha256: str | None
    head_path: Path
    head_sha256: str
    verify_sha256: bool
    blend: Blend
    gate: GateParams
    fallback_hysteresis: HysteresisParams
    explain_top_labels: int = 3

    def verify_files(self) -> None:
        """Raise ModelLoadError unless every stage-two file exists and matches its digest."""
        for path, digest in (
            (self.backbone_path, self.backbone_sha256),
            (self.class_map_path, self.class_map_sha256),
            (self.head_path, self.head_sha256),
        ):
            if not path.is_file():
                raise ModelLoadError(f"stage-two file {path} does not exist")
            if self.verify_sha256 and digest:
                actual = sha256_of(path)
                if actual != digest:
                    raise ModelLoadError(
                        f"sha256 mismatch for {path}: manifest says {digest}, file is {actual}"
                    )


# 1: the small model alone; 2: adds ``cascade`` (YAMNet backbone, cry head, gate). Version 1
# manifests still load: they run the small model alone.
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
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
    cascade: CascadeSpec | None = None
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
    if data["schema_version"] not in READABLE_VERSIONS:
        raise ModelLoadError(
            f"model manifest {manifest_path} has schema_version {data['schema_version']}, "
            f"this code reads {', '.join(map(str, READABLE_VERSIONS))}"
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
    cascade = None
    if "cascade" in data:
        cascade = _cascade_spec(manifest_path, data["cascade"], verify_sha256)
    return ModelManifest(
        manifest_path,
        model_path,
        expected,
        features,
        windows,
        hysteresis,
        output_is_logit,
        cascade,
        data,
    )


def _cascade_spec(manifest_path: Path, data: Any, verify: bool) -> CascadeSpec:
    """Parse ``cascade``. Its files are checked when stage two loads, not here: a device whose
    backbone is missing or damaged still gets a manifest, and detects with the small model."""
    if not isinstance(data, dict):
        raise ModelLoadError(f"model manifest {manifest_path}: cascade must be an object")
    try:
        backbone, head = data["backbone"], data["head"]
        return CascadeSpec(
            backbone_path=manifest_path.parent / str(backbone["model_file"]),
            backbone_sha256=str(backbone["sha256"]).lower(),
            class_map_path=manifest_path.parent / str(backbone["class_map"]),
            class_map_sha256=str(backbone.get("class_map_sha256", "")).lower() or None,
            head_path=manifest_path.parent / str(head["file"]),
            head_sha256=str(head["sha256"]).lower(),
            verify_sha256=verify,
            blend=Blend.from_dict(head.get("blend", {})),
            gate=GateParams.from_dict(data.get("gate", {})),
            fallback_hysteresis=HysteresisParams.from_dict(data["fallback_hysteresis"]),
            explain_top_labels=int(data.get("explain_top_labels", 3)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(
            f"model manifest {manifest_path} has an invalid cascade section: {exc!r}"
        ) from exc
