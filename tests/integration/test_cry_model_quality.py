"""Regression guard: the shipped cry model on the fixed, group-held-out test split.

Five of these read the training corpus (one also the ambience recordings), development material
outside the repository: they skip on a clone without it and fail under CI
(tests/harness/external_material.py finds it).
No training happens here; the committed model is evaluated as shipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.artifacts import ARTIFACTS_DIR
from models.cli import main as nursery_model
from models.cry import load_manifest
from models.cry.detector import CryDetector, default_model_manifest_path
from models.training.field_night import FieldNightParams
from models.training.field_run import run_field
from models.training.night import NightParams
from models.training.night_run import run_night
from models.training.robustness import steady_tone_report
from tests.harness.external_material import TRAINING_CORPUS, material_path
from tests.harness.timeouts import MODEL_GUARD_TIMEOUT_S

TEST_MANIFEST = ARTIFACTS_DIR / "splits" / "test_manifest.csv"
# Floors at the level the shipped cascade measures (MODEL_CARD.md), so any regression fails.
# Where a floor is below the product target (clip AUC >= 0.98 and F1 >= 0.92 on every source;
# night: <= 1 false alert per hour), the model does not meet that target yet: baby laughter
# from an unseen home recording (home_recordings) still passes the threshold in a third of its
# clips. Raise these floors to the targets when a model that meets them is shipped.
MIN_AUC = 0.99  # measured 0.998
MIN_F1 = 0.80  # measured 0.822; target 0.92
MIN_SOURCE_AUC = {"esc50": 0.99, "home_recordings": 0.98}  # measured 1.000, 0.988
MIN_SOURCE_F1 = {"esc50": 0.85, "home_recordings": 0.45}  # measured 0.875, 0.492
MIN_EPISODE_RECALL = 0.95  # measured 0.963 (26 of 27 episodes)
# Loosened from 2.5 with the cascade (issue 30): it raised 5 false alerts on this night against
# the small model's 2 - four home:laugh_1 laughs and one cat - while the field night below, the
# harder one, went from 23 to 31 of 31 cries with fewer false alerts. See docs/cry-detector.md.
MAX_FALSE_ALERTS_PER_HOUR = 5.5  # measured 5.37 (5 alerts); target 1.0
MAX_MEDIAN_ONSET_LATENCY_S = 1.5  # the target; measured 1.32 s from the first audible cry
# Sources with only one class cannot have an AUC or F1: hold their recall (cry-only sources)
# or false-positive rate (non-cry-only sources) instead.
MIN_ONE_CLASS_RECALL = 0.95  # donateacry measures 0.967
MAX_ONE_CLASS_FALSE_POSITIVE_RATE = 0.02  # speech_commands and spoken_digits measure 0.000
NIGHT = NightParams(hours=1.0, seed=7)
# The field sweep and field night (`nursery-model field`) on the shared data alone (no
# downloaded laughter; the card's figures include it). Measured values beside each floor; the
# goals of issue 30 are AUC >= 0.98, recall >= 0.95 at +5 dB and >= 0.90 at 0 dB, every
# family <= 0.05, and on the night <= 0.5 false alerts per hour.
# The small model alone measured AUC 0.890, recall 0.81 / 0.57 / 0.51 and a night recall of 0.74.
MIN_FIELD_AUC = 0.93  # measured 0.938
MIN_FIELD_RECALL_BY_SNR = {"+5 dB": 0.94, "+0 dB": 0.83, "-5 dB": 0.74}  # 0.964, 0.855, 0.771
MAX_FIELD_FALSE_POSITIVES = {
    "household (claps, knocks, coughs, alarms, laughter)": 0.32,  # measured 0.296 (laughter)
    "animals (ESC-50 cats, dogs)": 0.50,  # measured 0.458 (cats)
    "other indoor (speech, doors, keys, phone, music, footsteps)": 0.04,  # measured 0.019
    "noise beds alone (noise machines, fans, hum, ambience)": 0.03,  # measured 0.014
    "other ESC-50 (sirens, horns, bells, glass, snoring)": 0.05,  # measured 0.021
}
MIN_FIELD_NIGHT_RECALL = 0.95  # measured 1.000 (31 of 31)
MAX_FIELD_NIGHT_FALSE_ALERTS_PER_HOUR = 4.5  # measured 4.35 (4 alerts); goal 0.5
# Rooms (of 28 per level) that a steady whine at this level against the room may alert; the
# model before whine augmentation alerted 2, 2, 4 and 5 of them.
MAX_ROOMS_ALERTED_BY_WHINE = {-20.0: 0, -10.0: 0, 0.0: 0, 10.0: 0}


# These stream hours of audio through the cascade, so their time follows the CPU's int8 speed:
# YAMNet took 0.79 ms per patch on the 2-vCPU machine of 2026-12-07 (AVX-512) and 8.4 ms on the
# next one (Zen 2, AVX2 only), where the field sweep took 530 s in one process. The suite's
# 300 s timeout is there to catch hangs, not to measure speed (tests/benchmarks does that).
pytestmark = pytest.mark.timeout(MODEL_GUARD_TIMEOUT_S)

needs_corpus = pytest.mark.needs_material(TRAINING_CORPUS, "the training corpus")
BACKGROUNDS = "data/backgrounds"
needs_backgrounds = pytest.mark.needs_material(BACKGROUNDS, "the ambience recordings")


def training_corpus() -> Path:
    return material_path(TRAINING_CORPUS)


@needs_corpus
def test_clip_level_floors_on_the_test_split(capsys: pytest.CaptureFixture[str]) -> None:
    data = training_corpus()
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


@needs_corpus
def test_event_level_floors_on_a_synthesized_night() -> None:
    data = training_corpus()
    manifest = load_manifest(default_model_manifest_path())
    night, metrics = run_night(manifest, data / "manifest.csv", "test", NIGHT, lambda _: None)
    assert len(night.cries) >= 15, "the night must hold enough episodes to measure recall"
    assert metrics.episode_recall >= MIN_EPISODE_RECALL, metrics
    assert metrics.false_alerts_per_hour <= MAX_FALSE_ALERTS_PER_HOUR, metrics
    assert metrics.median_onset_latency_s is not None
    assert metrics.median_onset_latency_s <= MAX_MEDIAN_ONSET_LATENCY_S, metrics
    print(f"night metrics: {metrics}")


@needs_corpus
def test_recalibrating_a_copy_reproduces_the_shipped_thresholds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stage one's shipped thresholds and onset rule (the cascade's fallback) come from the
    code, not from hand edits."""
    data = training_corpus()
    shipped = load_manifest(default_model_manifest_path())
    assert shipped.cascade is not None
    copy = tmp_path / "artifacts"
    copy.mkdir()
    (copy / shipped.model_path.name).write_bytes(shipped.model_path.read_bytes())
    # Stage one's own manifest, as `nursery-model train` wrote it, with scrambled thresholds
    # that the recalibration must replace.
    manifest_data = dict(shipped.extra["stage_one"])
    manifest_data["hysteresis"] = dict(
        manifest_data["hysteresis"], on_threshold=0.5, off_threshold=0.1, onset_k=1
    )
    (copy / shipped.path.name).write_text(json.dumps(manifest_data), encoding="utf-8")
    argv = [
        "recalibrate",
        "--data",
        str(data / "manifest.csv"),
        "--model-manifest",
        str(copy / shipped.path.name),
        "--work-dir",
        str(tmp_path / "work"),
    ]
    assert nursery_model(argv) == 0
    assert "run `nursery-model night --update-manifest` next" in capsys.readouterr().err
    recalibrated = load_manifest(copy / shipped.path.name)
    assert recalibrated.hysteresis == shipped.cascade.fallback_hysteresis
    assert recalibrated.sha256 == shipped.sha256
    test_split = (copy / "splits" / TEST_MANIFEST.name).read_text(encoding="utf-8")
    assert test_split == TEST_MANIFEST.read_text(encoding="utf-8")


def test_a_quiet_room_with_a_steady_whine_raises_no_cry_alert() -> None:
    """Fridges and chargers whine; the shipped model must not page the parents for it."""
    report = steady_tone_report(CryDetector.from_manifest(default_model_manifest_path()))
    alerted = {level.level_db: level.rooms_alerted for level in report.levels}
    assert alerted[None] == 0, report
    for level_db, most in MAX_ROOMS_ALERTED_BY_WHINE.items():
        assert alerted[level_db] <= most, report


@needs_corpus
@needs_backgrounds
def test_field_floors_noise_household_and_the_white_noise_night() -> None:
    data = training_corpus()
    manifest = load_manifest(default_model_manifest_path())
    result = run_field(
        manifest,
        data / "manifest.csv",
        material_path(BACKGROUNDS),
        (),
        FieldNightParams(),
        lambda _: None,
    )
    field, night = result["field_test"], result["field_night"]
    print(f"field: {json.dumps(field)}\nfield night: {night}")
    assert result["mode"] == "cascade"
    assert field["roc_auc"] >= MIN_FIELD_AUC, field
    recall = {snr: entry["recall"] for snr, entry in field["cry_recall_by_snr"].items()}
    for snr, floor in MIN_FIELD_RECALL_BY_SNR.items():
        assert recall[snr] >= floor, (snr, recall)
    families = field["false_positive_rate_by_family"]
    for family, ceiling in MAX_FIELD_FALSE_POSITIVES.items():
        assert families[family]["false_positive_rate"] <= ceiling, (family, families)
    assert night["episode_recall"] >= MIN_FIELD_NIGHT_RECALL, night
    assert night["false_alerts_per_hour"] <= MAX_FIELD_NIGHT_FALSE_ALERTS_PER_HOUR, night
    assert night["median_onset_latency_s"] <= MAX_MEDIAN_ONSET_LATENCY_S, night
