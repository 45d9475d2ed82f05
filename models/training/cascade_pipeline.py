"""Stage two of the detector, end to end: ``nursery-model train-cascade``.

1. the shipped YAMNet copy (embedding as an output) and its class map;
2. renditions of the training split -> YAMNet patches -> the cry head;
3. the blend weight of YAMNet's own cry class, then the threshold, both on validation
   renditions scored by the product's detector (so gate, hop and smoothing are included);
4. the onset rule on a validation night;
5. only then the test split: its clips as recorded, the field sweep (noise, SNR, household,
   animals, laughter) and the field night;
6. the v2 manifest (stage one's own manifest kept inside it) and the model card.

Stage one, the small int8 model, is trained by ``nursery-model train`` and read from the
output folder; its thresholds become the cascade's fallback.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.cry.backbone import YamnetBackbone, read_class_names
from models.cry.cascade import CascadeScorer, GateParams
from models.cry.detector import CryDetector
from models.cry.episodes import HysteresisParams
from models.cry.head import Blend, CryHead, logit
from models.cry.manifest import ModelManifest, load_manifest, sha256_of
from models.cry.runtime import TFLiteScorer
from models.training.backbone_build import BACKBONE_FILE, CLASS_MAP_FILE, build_backbone
from models.training.card import MANIFEST_FILE, data_sources, package_versions, save_manifest
from models.training.cascade_data import (
    TRAINING_RECIPE,
    VALIDATION_RECIPE,
    field_test_renditions,
    recipe_renditions,
)
from models.training.evaluation import report, score_clips
from models.training.field_night import FieldNightParams, synthesize_field_night
from models.training.field_report import field_report, score_renditions
from models.training.head_train import HeadParams, fit_head
from models.training.metrics import best_f1_threshold
from models.training.night import NightParams, split_night
from models.training.night_eval import score_night, stream_events
from models.training.onset_rule import choose_onset_rule_for
from models.training.patches import PatchSet, featurize
from models.training.renditions import Rendition, load_ambience
from models.training.train import PreparedData, TrainConfig, prepare_data

LOG = logging.getLogger(__name__)
Progress = Callable[[str], None]
HEAD_FILE = "cry_head.npz"
NOTICE_FILE = "YAMNET_NOTICE.md"
OFF_THRESHOLD_RATIO = 0.5
# Hard negatives (HeadParams.hard_negative_weight): ESC-50's animals, sirens and horns, and
# every laughter clip (matched by name in head_train.is_hard_negative).
HARD_SOURCES = ("esc50",)
VALIDATION_NIGHT_HOURS = 1.0
YAMNET_NOTICE = """# YAMNet (bundled)

`yamnet_embedding.tflite` is Google's YAMNet (TensorFlow Model Garden,
research/audioset/yamnet), the TFLite classification model, with one change made by
`nursery-model train-cascade`: the embedding tensor
`yamnet_frames/global_average_pooling2d/Mean` is listed as a second output and the log-mel
output dropped; no weight is changed. `yamnet_class_map.csv` is its class map.

Copyright the TensorFlow Authors. Licensed under the Apache License, Version 2.0
(https://www.apache.org/licenses/LICENSE-2.0). Distributed on an "AS IS" BASIS, WITHOUT
WARRANTIES OR CONDITIONS OF ANY KIND.
"""


@dataclass(frozen=True)
class CascadeConfig:
    data_manifest: Path
    yamnet_dir: Path
    backgrounds_dir: Path
    output_dir: Path
    work_dir: Path
    extra_manifests: tuple[Path, ...] = ()
    seed: int = 1234
    split_seed: int | None = None
    head: HeadParams = field(default_factory=HeadParams)
    gate: GateParams = field(default_factory=GateParams)
    # Weights tried for YAMNet's own cry logit beside the head's (chosen on validation).
    zero_shot_weights: tuple[float, ...] = (0.0, 0.25, 0.5)
    cry_classes: tuple[int, ...] = (19, 20)  # "Crying, sobbing", "Baby cry, infant cry"
    field_night: FieldNightParams = field(default_factory=FieldNightParams)
    explain_top_labels: int = 3

    @property
    def evaluation_seed(self) -> int:
        return self.seed if self.split_seed is None else self.split_seed

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            data_manifest=self.data_manifest,
            output_dir=self.output_dir,
            work_dir=self.work_dir,
            extra_manifests=self.extra_manifests,
            seed=self.seed,
            split_seed=self.split_seed,
        )


def stage_one(output_dir: Path) -> tuple[ModelManifest, HysteresisParams, dict[str, Any]]:
    """The small model's manifest, its own thresholds and its manifest data (kept in v2)."""
    manifest = load_manifest(output_dir / MANIFEST_FILE)
    data = dict(manifest.extra)
    if manifest.cascade is not None:
        return manifest, manifest.cascade.fallback_hysteresis, dict(data["stage_one"])
    return manifest, manifest.hysteresis, data


def pair_min_clip_scores(patches: PatchSet, patch_logits: np.ndarray) -> np.ndarray:
    """Per rendition, the best of the lower of two consecutive patches (the cascade's rule)."""
    scores = np.full(len(patches.renditions), -np.inf)
    for index in range(len(patches.renditions)):
        own = patch_logits[patches.rendition == index]
        if len(own) == 0:
            continue
        scores[index] = own.max() if len(own) == 1 else np.minimum(own[1:], own[:-1]).max()
    return scores


def choose_blend(
    head: CryHead, validation: PatchSet, config: CascadeConfig
) -> tuple[Blend, dict[str, float]]:
    """The zero-shot weight with the best validation F1 (head logit + weight x cry logit)."""
    labels = [r.is_cry for r in validation.renditions]
    head_logits = head.head_logits(validation.embeddings)
    zero_shot = logit(validation.class_scores[:, list(config.cry_classes)].max(axis=1))
    results: dict[str, float] = {}
    best: tuple[float, float] | None = None
    for weight in config.zero_shot_weights:
        clip = pair_min_clip_scores(validation, head_logits + weight * zero_shot)
        threshold = best_f1_threshold(labels, clip.tolist())
        hits = clip >= threshold
        tp = int(np.sum(hits & np.array(labels)))
        f1 = 2 * tp / (int(hits.sum()) + sum(labels)) if hits.sum() + sum(labels) else 0.0
        results[f"{weight:g}"] = round(f1, 4)
        if best is None or f1 > best[1]:
            best = (weight, f1)
    assert best is not None
    return Blend(zero_shot_weight=best[0], cry_classes=config.cry_classes), results


def build_detector(
    small: ModelManifest,
    backbone: YamnetBackbone,
    head: CryHead,
    gate: GateParams,
    hysteresis: HysteresisParams,
    class_names: list[str],
    top_labels: int,
) -> CryDetector:
    scorer = TFLiteScorer(small.model_path, output_is_logit=small.output_is_logit)
    window_s = (
        small.features.frame_length + (small.windows.window_frames - 1) * small.features.hop_length
    ) / small.features.sample_rate
    return CryDetector(
        scorer,
        small.features,
        small.windows,
        hysteresis,
        cascade=CascadeScorer(scorer, backbone, head, gate, window_s),
        class_names=class_names,
        explain_top_labels=top_labels,
    )


def _renditions(name: str, items: Sequence[Rendition], progress: Progress) -> Sequence[Rendition]:
    cries = sum(r.is_cry for r in items)
    seconds = sum(len(r.audio) for r in items) / 16_000
    progress(f"{name}: {len(items)} renditions ({cries} cries), {seconds / 3600:.2f} h of audio")
    return items


def run_cascade_training(config: CascadeConfig, progress: Progress) -> Path:
    started = time.monotonic()
    small, fallback, stage_one_data = stage_one(config.output_dir)
    data = prepare_data(config.train_config(), progress)
    backbone_path = build_backbone(
        config.yamnet_dir / "yamnet.tflite", config.output_dir / BACKBONE_FILE
    )
    shutil.copyfile(config.yamnet_dir / CLASS_MAP_FILE, config.output_dir / CLASS_MAP_FILE)
    (config.output_dir / NOTICE_FILE).write_text(YAMNET_NOTICE, encoding="utf-8")
    backbone = YamnetBackbone(backbone_path)
    class_names = read_class_names(config.output_dir / CLASS_MAP_FILE)
    ambience = {
        split: load_ambience(config.backgrounds_dir, split)
        for split in ("train", "validation", "test")
    }

    seed = config.seed
    training = _renditions(
        "training",
        list(
            recipe_renditions(
                data.splits["train"], data.audio, ambience["train"], TRAINING_RECIPE, seed, "train"
            )
        ),
        progress,
    )
    train_patches = featurize(training, backbone, progress=_every("training renditions", progress))
    head, head_info = fit_head(train_patches, config.head, seed, HARD_SOURCES)
    progress(f"head trained on {head_info['patches']} patches ({head_info['cry_patches']} cry)")

    validation = _renditions(
        "validation",
        list(
            recipe_renditions(
                data.splits["validation"],
                data.audio,
                ambience["validation"],
                VALIDATION_RECIPE,
                config.evaluation_seed + 1,
                "validation",
            )
        ),
        progress,
    )
    validation_patches = featurize(validation, backbone)
    blend, blend_f1 = choose_blend(head, validation_patches, config)
    head = head.with_blend(blend)
    progress(f"zero-shot weight {blend.zero_shot_weight:g} (validation F1 by weight {blend_f1})")

    base = HysteresisParams(cooldown_s=fallback.cooldown_s, offset_s=fallback.offset_s)
    detector = build_detector(
        small, backbone, head, config.gate, base, class_names, config.explain_top_labels
    )
    validation_scored = score_renditions(
        detector, validation, _every("validation renditions", progress)
    )
    threshold = best_f1_threshold(
        [s.rendition.is_cry for s in validation_scored], [s.score for s in validation_scored]
    )
    hysteresis = replace(
        base, on_threshold=threshold, off_threshold=threshold * OFF_THRESHOLD_RATIO
    )
    validation_report = field_report(validation_scored, threshold)
    progress(f"threshold {threshold:.4f}: validation F1 {validation_report['f1']}")

    onset = _choose_onset(small, backbone, head, config, hysteresis, class_names, data, progress)
    hysteresis = onset[0]

    # The test split, for the first time.
    detector = build_detector(
        small, backbone, head, config.gate, hysteresis, class_names, config.explain_top_labels
    )
    test_clips = report(score_clips(detector, data.splits["test"], Path(), data.audio), threshold)
    validation_clips = report(
        score_clips(detector, data.splits["validation"], Path(), data.audio), threshold
    )
    field = list(
        field_test_renditions(
            data.splits["test"], data.audio, ambience["test"], config.evaluation_seed + 2
        )
    )
    _renditions("field test", field, progress)
    field_scored = score_renditions(detector, field, _every("field renditions", progress))
    field_metrics = field_report(field_scored, threshold)
    progress(f"field test: F1 {field_metrics['f1']}, AUC {field_metrics['roc_auc']}")
    night = synthesize_field_night(
        [c for c in data.splits["test"] if c.is_cry],
        [c for c in data.splits["test"] if not c.is_cry],
        data.audio,
        config.field_night,
    )
    night_metrics = score_night(
        night, stream_events(detector, night), config.field_night.seed, "test"
    ).to_dict()
    progress(f"field night: {night_metrics}")

    manifest = _manifest(
        config,
        small,
        stage_one_data,
        fallback,
        hysteresis,
        head,
        {
            "head": config.head.to_dict() | head_info,
            "zero_shot_f1_by_weight": blend_f1,
            "onset_rule_validation_night": onset[1],
            "renditions": {"training": len(training), "validation": len(validation)},
            "packages": package_versions(),
            "wall_time_s": round(time.monotonic() - started, 1),
        },
        {
            "test": test_clips.to_dict(),
            "validation": validation_clips.to_dict(),
            "validation_renditions": validation_report,
            "field_test": field_metrics,
            "field_night": night_metrics,
        },
        data,
    )
    path = config.output_dir / MANIFEST_FILE
    save_manifest(path, manifest)
    return path


def _choose_onset(
    small: ModelManifest,
    backbone: YamnetBackbone,
    head: CryHead,
    config: CascadeConfig,
    hysteresis: HysteresisParams,
    class_names: list[str],
    data: PreparedData,
    progress: Progress,
) -> tuple[HysteresisParams, dict[str, Any]]:
    night = split_night(
        data.splits["validation"],
        data.audio,
        small.features.sample_rate,
        NightParams(hours=VALIDATION_NIGHT_HOURS, seed=config.evaluation_seed),
    )
    detector = build_detector(small, backbone, head, config.gate, hysteresis, class_names, 0)
    choice = choose_onset_rule_for(detector, night, config.evaluation_seed)
    progress(
        f"onset rule {choice.hysteresis.onset_k} of {choice.hysteresis.onset_n}, at least "
        f"{choice.hysteresis.min_duration_s} s (validation night: recall "
        f"{choice.metrics.episode_recall:.3f}, {choice.metrics.false_alerts} false alerts)"
    )
    return choice.hysteresis, choice.metrics.to_dict()


def _manifest(
    config: CascadeConfig,
    small: ModelManifest,
    stage_one_data: dict[str, Any],
    fallback: HysteresisParams,
    hysteresis: HysteresisParams,
    head: CryHead,
    training: dict[str, Any],
    metrics: dict[str, Any],
    data: PreparedData,
) -> dict[str, Any]:
    out = config.output_dir
    head.save(out / HEAD_FILE)
    return {
        **{key: stage_one_data[key] for key in ("model_file", "sha256", "size_bytes", "input")},
        "schema_version": 2,
        "name": "nursery-cry-detector",
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "output": stage_one_data["output"],
        "output_kind": stage_one_data.get("output_kind", "probability"),
        "features": stage_one_data["features"],
        "windows": stage_one_data["windows"],
        "hysteresis": hysteresis.to_dict(),
        "threshold": hysteresis.on_threshold,
        "cascade": {
            "backbone": {
                "model_file": BACKBONE_FILE,
                "sha256": sha256_of(out / BACKBONE_FILE),
                "size_bytes": (out / BACKBONE_FILE).stat().st_size,
                "class_map": CLASS_MAP_FILE,
                "class_map_sha256": sha256_of(out / CLASS_MAP_FILE),
                "source_sha256": sha256_of(config.yamnet_dir / "yamnet.tflite"),
                "license": "Apache-2.0 (TensorFlow Model Garden, YAMNet); see YAMNET_NOTICE.md",
            },
            "head": {
                "file": HEAD_FILE,
                "sha256": sha256_of(out / HEAD_FILE),
                "size_bytes": (out / HEAD_FILE).stat().st_size,
                "blend": head.blend.to_dict(),
                "license": "BSD-3-Clause (this project), trained on the data sources below",
            },
            "gate": config.gate.to_dict(),
            "fallback_hysteresis": fallback.to_dict(),
            "explain_top_labels": config.explain_top_labels,
        },
        "split_method": stage_one_data.get("split_method"),
        "data_sources": data_sources(data.splits),
        "training": {
            **training,
            "seed": config.seed,
            "split_seed": config.evaluation_seed,
            "data_manifest_sha256": data.data_sha256,
            "extra_data": [
                {"manifest": path.name, "sha256": sha256_of(path)}
                for path in config.extra_manifests
            ],
        },
        "metrics": metrics,
        "stage_one": stage_one_data,
    }


def _every(label: str, progress: Progress) -> Callable[[int], None]:
    def report_count(done: int) -> None:
        if done:
            progress(f"{label}: {done} done")

    return report_count
