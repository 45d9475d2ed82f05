"""The whole training run: prepare data, fit, export int8, pick thresholds, write the manifest."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from models.cry.detector import CryDetector, WindowScorer
from models.cry.episodes import HysteresisParams
from models.cry.runtime import TFLiteScorer
from models.training.card import MODEL_FILE, package_versions, write_artifacts
from models.training.dataset import file_sha256, read_manifest
from models.training.evaluation import report, score_clips
from models.training.metrics import best_f1_threshold
from models.training.network import build_model, export_int8, train_model
from models.training.night import NightParams, split_night
from models.training.onset_rule import OnsetChoice, choose_onset_rule_for
from models.training.train import (
    PreparedData,
    Progress,
    TrainConfig,
    build_training_set,
    build_validation_set,
    prepare_data,
    seed_everything,
)

LOG = logging.getLogger(__name__)
VALIDATION_NIGHT_HOURS = 2.0
OFF_THRESHOLD_RATIO = 0.5  # the episode stays open until scores fall to half the onset level


def choose_hysteresis(
    config: TrainConfig, labels: list[bool], scores: list[float]
) -> HysteresisParams:
    """Onset threshold = best validation F1; the off threshold sits proportionally below it."""
    on = best_f1_threshold(labels, scores)
    return replace(config.hysteresis, on_threshold=on, off_threshold=on * OFF_THRESHOLD_RATIO)


def tune_onset_rule(
    scorer: WindowScorer, config: TrainConfig, hysteresis: HysteresisParams, data: PreparedData
) -> OnsetChoice:
    """Pick k-of-n and the minimum length on a night made of validation clips only."""
    night = split_night(
        data.splits["validation"],
        data.audio,
        config.features.sample_rate,
        NightParams(hours=VALIDATION_NIGHT_HOURS, seed=config.evaluation_seed),
    )
    detector = CryDetector(scorer, config.features, config.windows, hysteresis)
    return choose_onset_rule_for(detector, night, config.evaluation_seed)


def extra_data_entry(manifest: Path) -> dict[str, Any]:
    """What the card records of an extra data manifest: its sources, size and digest."""
    clips = read_manifest(manifest)
    return {
        "sources": sorted({clip.source for clip in clips}),
        "clips": len(clips),
        "sha256": file_sha256(manifest),
    }


def run_training(config: TrainConfig, progress: Progress) -> Path:
    started = time.monotonic()
    seed_everything(config.seed)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    config.work_dir.mkdir(parents=True, exist_ok=True)
    data = prepare_data(config, progress)
    train_x, train_y = build_training_set(data.splits["train"], data.audio, config, progress)
    val_x, val_y = build_validation_set(
        data.splits["validation"], data.splits["train"], data.audio, config
    )
    progress(
        f"{len(train_y)} training windows ({int(train_y.sum())} cry), "
        f"{len(val_y)} validation windows"
    )
    model = build_model((config.windows.window_frames, config.features.n_mels), config.network)
    history = train_model(
        model,
        (train_x.astype(np.float32), train_y),
        (val_x.astype(np.float32), val_y),
        config.network,
        config.seed,
    )
    order = np.random.default_rng(config.seed).permutation(len(train_x))
    tflite = export_int8(model, config.network, train_x[order].astype(np.float32))
    model_path = config.output_dir / MODEL_FILE
    model_path.write_bytes(tflite)
    progress(f"exported int8 model: {len(tflite)} bytes")

    training_info: dict[str, Any] = {
        "seed": config.seed,
        "split_seed": config.evaluation_seed,
        "data_manifest_sha256": data.data_sha256,
        "extra_data": [extra_data_entry(path) for path in config.extra_manifests],
        "packages": package_versions(),
        "split": {name: len(items) for name, items in data.splits.items()},
        "network": config.network.to_dict(),
        "augment": {
            "snrs_db": list(config.augment.snrs_db),
            "gain_db_range": list(config.augment.gain_db_range),
            "rounds": config.augment_rounds,
            "training_hop_frames": config.training_hop_frames,
            "whine_probability": config.augment.whine_probability,
            "high_voice_probability": config.augment.high_voice_probability,
            "high_voice_speed_range": list(config.augment.high_voice_speed_range),
        },
        "history": history,
        "wall_time_s": round(time.monotonic() - started, 1),
    }
    return calibrate_and_write(config, data, model_path, training_info, progress)


def calibrate_and_write(
    config: TrainConfig,
    data: PreparedData,
    model_path: Path,
    training_info: dict[str, Any],
    progress: Progress,
) -> Path:
    """Thresholds from validation clips, onset rule from a validation night, test metrics.

    Everything after the weights are fixed; also run on its own when only the runtime window
    hop or the onset candidates change (the weights do not depend on them).
    """
    detector = CryDetector(
        TFLiteScorer(model_path, output_is_logit=True),
        config.features,
        config.windows,
        config.hysteresis,
    )
    validation = score_clips(detector, data.splits["validation"], Path(), data.audio)
    hysteresis = choose_hysteresis(
        config, [s.clip.is_cry for s in validation], [s.score for s in validation]
    )
    val_report = report(validation, hysteresis.on_threshold)
    onset = tune_onset_rule(detector.scorer, config, hysteresis, data)
    hysteresis = onset.hysteresis
    progress(
        f"onset rule {hysteresis.onset_k} of {hysteresis.onset_n} windows, at least "
        f"{hysteresis.min_duration_s} s (validation night: {onset.metrics.false_alerts} false "
        f"alerts, recall {onset.metrics.episode_recall:.3f}, median onset "
        f"{onset.metrics.median_onset_latency_s} s)"
    )
    detector = CryDetector(detector.scorer, config.features, config.windows, hysteresis)
    test_report = report(
        score_clips(detector, data.splits["test"], Path(), data.audio), hysteresis.on_threshold
    )
    progress(f"validation F1 {val_report.overall.f1}, test F1 {test_report.overall.f1}")
    training_info = {
        **training_info,
        "onset_rule_validation_night": onset.metrics.to_dict(),
    }
    return write_artifacts(
        config,
        model_path,
        hysteresis,
        training_info,
        {"validation": val_report.to_dict(), "test": test_report.to_dict()},
        data.splits,
    )
