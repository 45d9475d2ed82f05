"""Regression guard: the shipped cry model on the fixed, group-held-out test split.

Reads the real data from ``$NURSERY_SHARED_DIR/data/audio`` (default ``<repo>/../shared``) and
fails - never skips - when it is missing, so a misconfigured CI cannot pass silently. No training
happens here; the committed model is evaluated as shipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from models.artifacts import ARTIFACTS_DIR
from models.cli import main as nursery_model
from models.cry import load_manifest
from models.cry.detector import default_model_manifest_path
from models.training.night import NightParams
from models.training.night_run import run_night

REPO = Path(__file__).resolve().parents[2]
TEST_MANIFEST = ARTIFACTS_DIR / "splits" / "test_manifest.csv"
# Floors at the level the shipped model measures (MODEL_CARD.md), so any regression fails.
# They are BELOW the product targets (clip AUC >= 0.98 and F1 >= 0.93 on every source; night:
# <= 1 false alert per hour, median onset <= 1.5 s), which this model does not meet yet:
# baby laughter (home_recordings) is scored as crying. Raise these floors to the targets when a
# model that meets them is shipped.
MIN_AUC = 0.99  # measured 0.996
MIN_F1 = 0.70  # measured 0.728; target 0.93
MIN_SOURCE_AUC = {"esc50": 0.75, "home_recordings": 0.95}  # measured 0.798, 0.970
MIN_SOURCE_F1 = {"esc50": 0.80, "home_recordings": 0.30}  # measured 0.824, 0.337
MIN_EPISODE_RECALL = 0.95
MAX_FALSE_ALERTS_PER_HOUR = 2.0  # target 1.0
MAX_MEDIAN_ONSET_LATENCY_S = 3.0  # target 1.5
# Sources with only one class cannot have an AUC or F1: hold their recall (cry-only sources)
# or false-positive rate (non-cry-only sources) instead.
MIN_ONE_CLASS_RECALL = 0.95  # donateacry measures 1.000
MAX_ONE_CLASS_FALSE_POSITIVE_RATE = 0.02  # speech_commands and spoken_digits measure 0.000
NIGHT = NightParams(hours=1.0, seed=7)


def shared_data_dir() -> Path:
    shared = Path(os.environ.get("NURSERY_SHARED_DIR", REPO.parent / "shared"))
    data = shared / "data" / "audio"
    if not (data / "manifest.csv").is_file():
        pytest.fail(
            f"shared audio data not found at {data}: set NURSERY_SHARED_DIR to the folder that "
            "holds data/audio/manifest.csv",
            pytrace=False,
        )
    return data


def test_clip_level_floors_on_the_test_split(capsys: pytest.CaptureFixture[str]) -> None:
    data = shared_data_dir()
    argv = ["evaluate", "--manifest", str(TEST_MANIFEST), "--data-root", str(data), "--json"]
    assert nursery_model(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == sum(1 for _ in TEST_MANIFEST.open()) - 1
    assert result["auc"] >= MIN_AUC, result
    assert result["f1"] >= MIN_F1, result
    failures = []
    for source, m in result["per_source"].items():
        if m["auc"] is not None and m["auc"] < MIN_SOURCE_AUC[source]:
            failures.append(f"{source}: AUC {m['auc']:.3f} < {MIN_SOURCE_AUC[source]}")
        if m["f1"] is not None and m["f1"] < MIN_SOURCE_F1[source]:
            failures.append(f"{source}: F1 {m['f1']:.3f} < {MIN_SOURCE_F1[source]}")
        if m["n_not_cry"] == 0 and m["recall"] < MIN_ONE_CLASS_RECALL:
            failures.append(f"{source}: recall {m['recall']:.3f} < {MIN_ONE_CLASS_RECALL}")
        if m["n_cry"] == 0 and m["false_positive_rate"] > MAX_ONE_CLASS_FALSE_POSITIVE_RATE:
            failures.append(
                f"{source}: false-positive rate {m['false_positive_rate']:.3f} "
                f"> {MAX_ONE_CLASS_FALSE_POSITIVE_RATE:.2f}"
            )
    assert not failures, failures


def test_event_level_floors_on_a_synthesized_night() -> None:
    data = shared_data_dir()
    manifest = load_manifest(default_model_manifest_path())
    night, metrics = run_night(manifest, data / "manifest.csv", "test", NIGHT, lambda _: None)
    assert len(night.cries) >= 15, "the night must hold enough episodes to measure recall"
    assert metrics.episode_recall >= MIN_EPISODE_RECALL, metrics
    assert metrics.false_alerts_per_hour <= MAX_FALSE_ALERTS_PER_HOUR, metrics
    assert metrics.median_onset_latency_s is not None
    assert metrics.median_onset_latency_s <= MAX_MEDIAN_ONSET_LATENCY_S, metrics
    print(f"night metrics: {metrics}")
