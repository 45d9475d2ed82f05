"""The two-stage cry detector: manifest v2, the fall back to the small model, the gate, explain.

Stage two runs the shipped YAMNet and head (``models/artifacts``); their scores are provisional,
so nothing here depends on them, only on when stage two runs and what loads.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.artifacts import MANIFEST_PATH
from models.cry import CryDetector, ModelLoadError, load_manifest, rms_dbfs
from models.cry.backbone import CLASS_COUNT, BackboneOutput, YamnetBackbone
from models.cry.cascade import BackboneRun, CascadeScorer, GateParams
from models.cry.explain import top_labels
from models.cry.head import CryHead

RATE = 16_000
WINDOW_S = 0.995  # 400 + 97 * 160 samples
HOP_S = 0.1
ARTIFACT_FILES = (
    "cry_detector.json",
    "cry_detector.tflite",
    "cry_head.npz",
    "yamnet_class_map.csv",
    "yamnet_embedding.tflite",
)


def artifacts_copy(folder: Path) -> Path:
    """The shipped model's files in ``folder``; returns its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACT_FILES:
        shutil.copyfile(MANIFEST_PATH.parent / name, folder / name)
    return folder / "cry_detector.json"


def edit_manifest(path: Path, edit: Any) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def noise(seconds: float, dbfs: float, seed: int = 3) -> np.ndarray:
    samples = np.random.default_rng(seed).standard_normal(round(seconds * RATE))
    return (samples * 10 ** (dbfs / 20)).astype(np.float32)


class FixedScore:
    """A stage one whose opinion the test sets: the gate, not the small model, is under test."""

    def __init__(self, score: float) -> None:
        self.value = score
        self.calls = 0

    def score(self, window: np.ndarray) -> float:
        self.calls += 1
        return self.value


@pytest.fixture(scope="module")
def stage_two() -> tuple[YamnetBackbone, CryHead, list[str]]:
    manifest = load_manifest(MANIFEST_PATH)
    spec = manifest.cascade
    assert spec is not None
    from models.cry.backbone import read_class_names

    return (
        YamnetBackbone(spec.backbone_path),
        CryHead.load(spec.head_path, spec.blend),
        read_class_names(spec.class_map_path),
    )


def run_windows(cascade: CascadeScorer, audio: np.ndarray) -> list[float]:
    """Every 1 s window every 0.1 s, as the detector hands them to the cascade."""
    window, hop = round(WINDOW_S * RATE), round(HOP_S * RATE)
    scores = []
    for index, start in enumerate(range(0, len(audio) - window + 1, hop)):
        features = np.zeros((98, 40), dtype=np.float32)
        chunk = audio[start : start + window]
        scores.append(cascade.score(features, chunk, index * HOP_S, rms_dbfs(chunk)))
    return scores


# ---- manifest v2 ----


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["cascade"].pop("fallback_hysteresis"), "fallback_hysteresis"),
        (lambda d: d["cascade"]["backbone"].pop("sha256"), "sha256"),
        (lambda d: d["cascade"]["head"].pop("file"), "file"),
        (lambda d: d["cascade"].pop("backbone"), "backbone"),
        (lambda d: d["cascade"]["gate"].update(opens_when="loud"), "opens_when"),
        (lambda d: d["cascade"]["fallback_hysteresis"].update(onset_q=3), "onset_q"),
    ],
)
def test_an_invalid_cascade_section_names_the_key(tmp_path: Path, edit: Any, named: str) -> None:
    manifest = edit_manifest(artifacts_copy(tmp_path), edit)
    with pytest.raises(ModelLoadError, match="invalid cascade section") as caught:
        load_manifest(manifest)
    assert named in str(caught.value)


def test_a_cascade_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    manifest = edit_manifest(artifacts_copy(tmp_path), lambda d: d.update(cascade=[1]))
    with pytest.raises(ModelLoadError, match="cascade must be an object"):
        load_manifest(manifest)


def test_the_shipped_manifest_runs_the_cascade() -> None:
    detector = CryDetector.from_manifest(None)
    assert detector.mode == "cascade"
    assert detector.degraded_reason is None
    assert detector.cascade is not None
    assert len(detector.class_names) == CLASS_COUNT


# ---- degraded: stage two does not load ----


def test_a_missing_backbone_degrades_to_the_small_model_instead_of_failing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = artifacts_copy(tmp_path)
    (tmp_path / "yamnet_embedding.tflite").unlink()
    detector = CryDetector.from_manifest(manifest)
    assert detector.mode == "degraded"
    assert detector.cascade is None
    assert detector.degraded_reason is not None
    assert "yamnet_embedding.tflite does not exist" in detector.degraded_reason
    # The small model's own thresholds, not the cascade's.
    spec = load_manifest(manifest).cascade
    assert spec is not None
    assert detector.hysteresis == spec.fallback_hysteresis
    assert "degraded to the small model" in caplog.text
    # And it still scores: a window of noise gets the small model's score, not the gate's 0.
    scores = detector.window_scores(noise(1.5, -30.0))
    assert all(0.0 <= window.score <= 1.0 for window in scores)


@pytest.mark.parametrize("damaged", ["yamnet_embedding.tflite", "cry_head.npz"])
def test_a_stage_two_file_that_fails_its_sha256_degrades(tmp_path: Path, damaged: str) -> None:
    manifest = artifacts_copy(tmp_path)
    path = tmp_path / damaged
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, other digest
    path.write_bytes(bytes(data))
    detector = CryDetector.from_manifest(manifest)
    assert detector.mode == "degraded"
    assert detector.degraded_reason is not None
    assert detector.degraded_reason.startswith(f"sha256 mismatch for {path}")


def test_a_manifest_without_a_cascade_runs_the_small_model_and_is_not_degraded(
    tmp_path: Path,
) -> None:
    manifest = edit_manifest(artifacts_copy(tmp_path), lambda d: d.pop("cascade"))
    detector = CryDetector.from_manifest(manifest)
    assert detector.mode == "small"
    assert detector.degraded_reason is None


# ---- the gate ----


def test_quiet_audio_the_small_model_does_not_flag_never_runs_the_backbone(
    stage_two: tuple[YamnetBackbone, CryHead, list[str]],
) -> None:
    backbone, head, _names = stage_two
    small = FixedScore(0.0)
    cascade = CascadeScorer(small, backbone, head, GateParams(), WINDOW_S)
    scores = run_windows(cascade, noise(10.0, -60.0))  # a quiet room, under level_dbfs
    assert cascade.counters.windows == len(scores) == small.calls
    assert cascade.counters.backbone_runs == 0
    assert cascade.counters.gate_open_windows == 0
    assert set(scores) == {0.0}


def test_loud_audio_runs_the_backbone_every_backbone_hop(
    stage_two: tuple[YamnetBackbone, CryHead, list[str]],
) -> None:
    backbone, head, _names = stage_two
    gate = GateParams(backbone_hop_s=0.3)
    cascade = CascadeScorer(FixedScore(0.0), backbone, head, gate, WINDOW_S)
    run_windows(cascade, noise(12.0, -40.0))  # a noise machine, above level_dbfs
    windows = cascade.counters.windows
    assert cascade.counters.gate_open_windows == windows
    # One run every third 0.1 s window: the first window, then every 0.3 s after it.
    assert cascade.counters.backbone_runs == (windows + 2) // 3


def test_the_small_model_opens_the_gate_which_holds_then_closes(
    stage_two: tuple[YamnetBackbone, CryHead, list[str]],
) -> None:
    backbone, head, _names = stage_two
    small = FixedScore(0.9)
    gate = GateParams(small_threshold=0.5, hold_s=1.0, backbone_hop_s=0.3, smoothing_runs=1)
    cascade = CascadeScorer(small, backbone, head, gate, WINDOW_S)
    features, audio = np.zeros((98, 40), np.float32), noise(1.0, -70.0)  # under level_dbfs
    level = rms_dbfs(audio)
    first = cascade.score(features, audio, 0.0, level)
    assert cascade.last_run is not None
    assert cascade.last_run.cry_score == first
    small.value = 0.0
    assert cascade.score(features, audio, 0.1, level) == first  # held: open, not due, no run
    assert cascade.last_run is None
    cascade.score(features, audio, 0.5, level)  # due again while the hold keeps the gate open
    assert cascade.counters.backbone_runs == 2
    assert cascade.score(features, audio, 1.1, level) == 0.0  # 1 s after the last trigger: closed
    assert cascade.counters.gate_open_windows == 3


def test_reset_closes_the_gate_and_forgets_the_held_score(
    stage_two: tuple[YamnetBackbone, CryHead, list[str]],
) -> None:
    backbone, head, _names = stage_two
    small = FixedScore(0.9)
    cascade = CascadeScorer(small, backbone, head, GateParams(small_threshold=0.5), WINDOW_S)
    features, audio = np.zeros((98, 40), np.float32), noise(1.0, -70.0)
    level = rms_dbfs(audio)
    cascade.score(features, audio, 0.0, level)
    assert cascade.last_run is not None
    cascade.reset()
    assert cascade.last_run is None
    small.value = 0.0
    # Without the reset the gate would still be open (hold_s 4 s) and hold the score.
    assert cascade.score(features, audio, 0.1, level) == 0.0
    assert cascade.counters.backbone_runs == 1  # counters are totals: reset keeps them
    small.value = 0.9
    cascade.score(features, audio, 0.2, level)
    # A new stream's first open window runs at once, whatever the last run's time was.
    assert cascade.counters.backbone_runs == 2


def test_the_detector_resets_its_cascade_between_clips(tmp_path: Path) -> None:
    detector = CryDetector.from_manifest(None)
    assert detector.cascade is not None
    loud = noise(3.0, -30.0)
    first = detector.analyze(loud, RATE)
    runs = detector.cascade.counters.backbone_runs
    second = detector.analyze(loud, RATE)
    assert [w.score for w in second.window_scores] == [w.score for w in first.window_scores]
    assert detector.cascade.counters.backbone_runs == 2 * runs


# ---- explained alerts ----


def run_with(scores: dict[int, float], centre_s: float = 0.5) -> BackboneRun:
    class_scores = np.zeros(CLASS_COUNT, dtype=np.float32)
    for index, value in scores.items():
        class_scores[index] = value
    return BackboneRun(centre_s, 0.0, class_scores, np.zeros(1024, dtype=np.float32))


def test_top_labels_are_the_highest_mean_scores_best_first() -> None:
    names = [f"class {i}" for i in range(CLASS_COUNT)]
    runs = [run_with({20: 0.9, 0: 0.2, 5: 0.6}), run_with({20: 0.7, 0: 0.8, 5: 0.1})]
    # Means: 20 -> 0.8, 0 -> 0.5, 5 -> 0.35.
    assert top_labels(runs, names, 3) == [("class 20", 0.8), ("class 0", 0.5), ("class 5", 0.35)]
    assert top_labels(runs, names, 1) == [("class 20", 0.8)]


def test_top_labels_break_ties_by_class_order_and_are_empty_without_runs() -> None:
    names = [f"class {i}" for i in range(CLASS_COUNT)]
    runs = [run_with({7: 0.5, 3: 0.5, 9: 0.5})]
    assert [name for name, _ in top_labels(runs, names, 3)] == ["class 3", "class 7", "class 9"]
    assert top_labels([], names, 3) == []
    assert top_labels(runs, [], 3) == []
    assert top_labels(runs, names, 0) == []


def test_the_detector_explains_what_yamnet_heard_in_a_stretch_of_the_stream() -> None:
    detector = CryDetector.from_manifest(None)
    chunk = noise(6.0, -30.0)
    for start in range(0, len(chunk), 8000):
        detector.feed(chunk[start : start + 8000])
    heard = detector.heard(0.0, 6.0)
    assert len(heard) == detector.explain_top_labels
    assert all(name in detector.class_names for name, _ in heard)
    assert [score for _, score in heard] == sorted((score for _, score in heard), reverse=True)
    assert detector.heard(100.0, 200.0) == []


def test_window_scores_start_from_a_closed_gate_whatever_ran_before() -> None:
    detector = CryDetector.from_manifest(None)
    quiet = np.zeros(3 * RATE, dtype=np.float32)
    fresh = [w.score for w in detector.window_scores(quiet)]
    detector.window_scores(noise(3.0, -30.0))  # opens the gate, holds a score for 4 s
    assert [w.score for w in detector.window_scores(quiet)] == fresh


class FixedHead(CryHead):
    """A head whose scores are set by the test, one per backbone run."""

    def __init__(self, scores: list[float]) -> None:
        self.queue = list(scores)

    def score(self, output: BackboneOutput) -> float:
        return self.queue.pop(0)


def test_the_score_is_the_lowest_of_the_last_runs_and_nothing_before_enough_runs(
    stage_two: tuple[YamnetBackbone, CryHead, list[str]],
) -> None:
    """One cry-like instant (a laugh's) is not a cry: two runs in a row must agree."""
    backbone, _head, _names = stage_two
    head = FixedHead([0.9, 0.2, 0.8, 0.95])
    gate = GateParams(small_threshold=0.5, backbone_hop_s=0.3, smoothing_runs=2)
    cascade = CascadeScorer(FixedScore(0.9), backbone, head, gate, WINDOW_S)
    features, audio = np.zeros((98, 40), np.float32), noise(1.0, -70.0)
    level = rms_dbfs(audio)
    held = [cascade.score(features, audio, round(0.1 * i, 1), level) for i in range(12)]
    # Runs at 0.0, 0.3, 0.6, 0.9 s score 0.9, 0.2, 0.8, 0.95.
    assert held[0:3] == [0.0, 0.0, 0.0]  # one run is not enough
    assert held[3:6] == [0.2, 0.2, 0.2]  # min(0.9, 0.2)
    assert held[6:9] == [0.2, 0.2, 0.2]  # min(0.2, 0.8)
    assert held[9:12] == [0.8, 0.8, 0.8]  # min(0.8, 0.95)
