"""``nursery-model field``: the field sweep and the field night for any model manifest.

The same material and seeds as ``train-cascade`` uses after training, so a stage-one-only
manifest (the previous model) and the cascade are measured side by side.

The sweep's renditions and the night are independent: they are scored in ``workers`` forked
processes (each with its own detector built from the manifest; the audio is inherited, not
copied through a pipe), the night in one of them while the others score renditions. Each
rendition and the night get exactly the arithmetic of a single process, so the figures do not
depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.cry.detector import CryDetector
from models.cry.episodes import CryEvent
from models.cry.manifest import ModelManifest
from models.training.cascade_data import field_test_renditions
from models.training.corpus import decode_clips
from models.training.dataset import read_manifests, split_by_group
from models.training.field_night import FieldNightParams, synthesize_field_night
from models.training.field_report import Scored, field_report
from models.training.night import Night
from models.training.night_eval import score_night, stream_events
from models.training.renditions import RATE, Rendition, load_ambience

Progress = Callable[[str], None]
FIELD_SEED_OFFSET = 2  # train-cascade: validation renditions use split seed + 1, field + 2
# Both cores of the machines we measure on (the Pi's detector is measured in bench_cry).
FIELD_WORKERS = 2
# Renditions per task: small enough that the workers finish close together.
RENDITIONS_PER_TASK = 50
NIGHT_TASK = -1


class _ForkedWork:
    """What the forked workers read (inherited at fork, never pickled): set by run_field."""

    manifest: ModelManifest
    renditions: Sequence[Rendition] = ()
    night: Night
    detector: CryDetector | None = None


def _detector() -> CryDetector:
    if _ForkedWork.detector is None:
        _ForkedWork.detector = CryDetector.from_manifest(_ForkedWork.manifest)
    return _ForkedWork.detector


def _run_task(start: int) -> tuple[int, Any]:
    """Scores of ``RENDITIONS_PER_TASK`` renditions from ``start``, or the night's events."""
    detector = _detector()
    if start == NIGHT_TASK:
        return start, stream_events(detector, _ForkedWork.night)
    chunk = _ForkedWork.renditions[start : start + RENDITIONS_PER_TASK]
    return start, [detector.analyze(r.audio, RATE).max_score for r in chunk]


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
    workers: int = FIELD_WORKERS,
) -> dict[str, Any]:
    seed = split_seed_of(manifest)
    clips = split_by_group(read_manifests(data_manifest, extra_manifests), seed)["test"]
    audio = decode_clips(clips, data_manifest.parent, RATE, cache_dir=None, cache_key="")
    detector = CryDetector.from_manifest(manifest)  # its mode and threshold, in this process
    renditions = list(
        field_test_renditions(
            clips, audio, load_ambience(backgrounds, "test"), seed + FIELD_SEED_OFFSET
        )
    )
    progress(f"field sweep: {len(renditions)} renditions of the test split")
    built = synthesize_field_night(
        [c for c in clips if c.is_cry], [c for c in clips if not c.is_cry], audio, night
    )
    progress(f"field night: {built.hours:.2f} h, {len(built.cries)} cry episodes")
    _ForkedWork.manifest, _ForkedWork.renditions, _ForkedWork.night = manifest, renditions, built
    _ForkedWork.detector = None
    # The night first: it is the longest task, and one worker streams it while the rest score.
    tasks = [NIGHT_TASK, *range(0, len(renditions), RENDITIONS_PER_TASK)]
    scores = np.zeros(len(renditions))
    events: list[CryEvent] = []
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for start, result in pool.imap_unordered(_run_task, tasks):
                if start == NIGHT_TASK:
                    events = result
                    progress("field night streamed")
                else:
                    scores[start : start + len(result)] = result
                    progress(f"scored renditions {start}-{start + len(result) - 1}")
    finally:
        _ForkedWork.renditions = ()
    field = field_report(
        [Scored(r, float(score)) for r, score in zip(renditions, scores, strict=True)],
        detector.hysteresis.on_threshold,
    )
    metrics = score_night(built, events, night.seed, "test")
    return {"field_test": field, "field_night": metrics.to_dict(), "mode": detector.mode}
