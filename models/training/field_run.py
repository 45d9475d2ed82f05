"""``nursery-model field``: the field sweep and the field night for any model manifest.

The same material and seeds as ``train-cascade`` uses after training, so a stage-one-only
manifest (the previous model) and the cascade are measured side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from models.cry.detector import CryDetector
from models.cry.manifest import ModelManifest
from models.training.cascade_data import field_test_renditions
from models.training.corpus import decode_clips
from models.training.dataset import read_manifests, split_by_group
from models.training.field_night import FieldNightParams, synthesize_field_night
from models.training.field_report import field_report, score_renditions
from models.training.night_eval import score_night, stream_events
from models.training.renditions import RATE, load_ambience

Progress = Callable[[str], None]
FIELD_SEED_OFFSET = 2  # train-cascade: validation renditions use split seed + 1, field + 2


def split_seed_of(manifest: ModelManifest) -> int:
    training = manifest.extra.get("training", {})
    return int(training.get("split_seed", training.get("seed", 0)))


def run_field(
    manifest: ModelManifest,
    data_manifest: Path,
    backgrounds: Path,
    extra_manifests: Sequence[Path],
    night: FieldNightParams,
    progress: Progress,
) -> dict[str, Any]:
    seed = split_seed_of(manifest)
    clips = split_by_group(read_manifests(data_manifest, extra_manifests), seed)["test"]
    audio = decode_clips(clips, data_manifest.parent, RATE, cache_dir=None, cache_key="")
    detector = CryDetector.from_manifest(manifest)
    threshold = detector.hysteresis.on_threshold
    renditions = list(
        field_test_renditions(
            clips, audio, load_ambience(backgrounds, "test"), seed + FIELD_SEED_OFFSET
        )
    )
    progress(f"field sweep: {len(renditions)} renditions of the test split")
    scored = score_renditions(
        detector, renditions, lambda done: progress(f"scored {done} renditions")
    )
    field = field_report(scored, threshold)
    built = synthesize_field_night(
        [c for c in clips if c.is_cry], [c for c in clips if not c.is_cry], audio, night
    )
    progress(f"field night: {built.hours:.2f} h, {len(built.cries)} cry episodes")
    metrics = score_night(built, stream_events(detector, built), night.seed, "test")
    return {"field_test": field, "field_night": metrics.to_dict(), "mode": detector.mode}
