"""Writing the model manifest (JSON) and the human-readable model card next to the .tflite."""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.cry.episodes import HysteresisParams
from models.cry.manifest import SCHEMA_VERSION, sha256_of
from models.training.dataset import Clip

if TYPE_CHECKING:
    from models.training.train import TrainConfig

MODEL_FILE = "cry_detector.tflite"
MANIFEST_FILE = "cry_detector.json"
CARD_FILE = "MODEL_CARD.md"
VERSIONED_PACKAGES = ("numpy", "scipy", "soundfile", "soxr", "tensorflow-cpu", "ai-edge-litert")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def data_sources(splits: Mapping[str, Sequence[Clip]]) -> list[dict[str, Any]]:
    """Per source: its license and how many clips/groups of each label went to each split."""
    table: dict[str, dict[str, Any]] = {}
    for split, clips in splits.items():
        for clip in clips:
            entry = table.setdefault(
                clip.source,
                {"source": clip.source, "license": clip.license, "clips": {}, "groups": {}},
            )
            key = f"{split}:{clip.label}"
            entry["clips"][key] = entry["clips"].get(key, 0) + 1
            entry["groups"].setdefault(key, set()).add(clip.group)
    for entry in table.values():
        entry["groups"] = {key: len(groups) for key, groups in sorted(entry["groups"].items())}
        entry["clips"] = dict(sorted(entry["clips"].items()))
    return [table[name] for name in sorted(table)]


def write_artifacts(
    config: TrainConfig,
    model_path: Path,
    hysteresis: HysteresisParams,
    training: dict[str, Any],
    metrics: dict[str, Any],
    splits: Mapping[str, Sequence[Clip]],
) -> Path:
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": "nursery-cry-detector",
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model_file": model_path.name,
        "sha256": sha256_of(model_path),
        "size_bytes": model_path.stat().st_size,
        "input": "int8 (1, window_frames, n_mels, 1); normalised log-mel window in [0, 1]",
        "output": "int8 (1, 1); dequantised = cry logit; score = sigmoid(logit)",
        "output_kind": "logit",
        "features": config.features.to_dict(),
        "windows": config.windows.to_dict(),
        "hysteresis": hysteresis.to_dict(),
        "threshold": hysteresis.on_threshold,
        "split_method": (
            "group-level (recording/speaker/install), stratified by (label, source), seeded; "
            "15% of groups to validation and 15% to test per stratum, at least one test group "
            "for every stratum with two or more groups"
        ),
        "data_sources": data_sources(splits),
        "training": training,
        "metrics": metrics,
    }
    manifest_path = config.output_dir / MANIFEST_FILE
    save_manifest(manifest_path, manifest)
    return manifest_path


def save_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write the JSON and re-render MODEL_CARD.md beside it from the same data."""
    from models.training.model_card import render_model_card

    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (path.parent / CARD_FILE).write_text(render_model_card(manifest), encoding="utf-8")
