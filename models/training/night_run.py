"""Build a night from one split of the data and score a model on it (``nursery-model night``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from models.cry.detector import CryDetector
from models.cry.manifest import ModelManifest
from models.training.corpus import decode_clips
from models.training.dataset import read_manifests, split_by_group
from models.training.night import Night, NightParams, synthesize_night
from models.training.night_eval import NightMetrics, score_night, stream_events

Progress = Callable[[str], None]


def build_night(
    data_manifest: Path,
    split_seed: int,
    split: str,
    rate: int,
    params: NightParams,
    extra_manifests: Sequence[Path] = (),
) -> Night:
    """Cries and non-cry events come only from ``split`` (held-out test clips by default)."""
    clips = split_by_group(read_manifests(data_manifest, extra_manifests), split_seed)[split]
    audio = decode_clips(clips, data_manifest.parent, rate, cache_dir=None, cache_key="")
    cries = [clip for clip in clips if clip.is_cry]
    others = [clip for clip in clips if not clip.is_cry]
    return synthesize_night(cries, others, audio, rate, params)


def run_night(
    manifest: ModelManifest,
    data_manifest: Path,
    split: str,
    params: NightParams,
    progress: Progress,
    extra_manifests: Sequence[Path] = (),
) -> tuple[Night, NightMetrics]:
    training = manifest.extra.get("training", {})
    split_seed = int(training.get("split_seed", training.get("seed", 0)))
    detector = CryDetector.from_manifest(manifest)
    night = build_night(
        data_manifest, split_seed, split, detector.sample_rate, params, extra_manifests
    )
    progress(f"synthesized {night.hours:.2f} h night with {len(night.cries)} cry episodes")
    events = stream_events(
        detector, night, lambda done: progress(f"night streamed: {100 * done:.0f}%")
    )
    return night, score_night(night, events, params.seed, split)


def update_manifest_metrics(manifest: ModelManifest, metrics: NightMetrics) -> None:
    """Record night metrics in the manifest (and re-render the card); the model is untouched."""
    update_manifest_section(manifest, "night", metrics.to_dict())


def update_manifest_section(manifest: ModelManifest, key: str, values: dict[str, Any]) -> None:
    """Record one benchmark's results under ``metrics[key]`` and re-render the card."""
    from models.training.card import save_manifest

    data = json.loads(manifest.path.read_text(encoding="utf-8"))
    data.setdefault("metrics", {})[key] = values
    save_manifest(manifest.path, data)
