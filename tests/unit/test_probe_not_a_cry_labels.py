"""The label probe's rule (tests/benchmarks/probe_not_a_cry_labels.py): a mark keeps the classes
on which the marked onset rises above what the home's cries score, and ignores later onsets that
rise on one of them; a mark of crying has no such class and ignores nothing."""

from __future__ import annotations

import numpy as np

from models.training.ignore_eval import HeardEpisode
from tests.benchmarks.bench_not_a_cry import NightSpec, Streamed
from tests.benchmarks.probe_not_a_cry_labels import (
    LabelRule,
    Night,
    RunLog,
    cry_bars,
    replay_labels,
)

CRY, MEOW, BED = 0, 1, 2
NAMES = ("Baby cry, infant cry", "Meow", "White noise")
SPEC = NightSpec("unit", "tuning", "validation", "cat", "machine", 0.1, 1)
RULE = LabelRule(quantile=0.99, top=1, ratio=0.5, must_alert=0.9)


def scores(cry: float, meow: float) -> np.ndarray:
    return np.array([cry, meow, 0.3], dtype=np.float32)


def night(episodes: list[tuple[float, str, float, np.ndarray]]) -> Night:
    heard = [
        HeardEpisode(start, start + 5.0, confidence, None, None, cause)  # type: ignore[arg-type]
        for start, cause, confidence, _ in episodes
    ]
    cries = [(start, start + 5.0) for start, cause, _, _ in episodes if cause == "cry"]
    streamed = Streamed(SPEC, cries, 0, 0, heard, 1.0)
    # One stage-two run at each onset.
    centres = np.array([start for start, *_ in episodes], dtype=np.float64)
    return Night(streamed, centres, np.stack([s for *_, s in episodes]), NAMES)


def test_a_repeat_that_meows_is_ignored_and_the_cries_still_alert() -> None:
    home = night(
        [
            (10.0, "recurring", 0.5, scores(0.6, 0.8)),  # the mark
            (100.0, "cry", 0.5, scores(0.9, 0.05)),
            (200.0, "recurring", 0.5, scores(0.7, 0.5)),  # meows less, still above half
            (300.0, "recurring", 0.5, scores(0.7, 0.2)),  # hardly meows: alerts
            (400.0, "recurring", 0.95, scores(0.9, 0.9)),  # too sure to silence
            (500.0, "cry", 0.5, scores(0.8, 0.1)),
        ]
    )
    bars = cry_bars([home], RULE.quantile)
    assert bars[MEOW] < 0.11
    outcome = replay_labels(home, bars, RULE)
    assert (outcome.recurring, outcome.recurring_alerted) == (3, 2)
    assert outcome.cries_found_with_mark == outcome.cries == 2


def test_a_mark_of_crying_has_no_label_of_its_own_and_silences_nothing() -> None:
    home = night(
        [
            (10.0, "recurring", 0.5, scores(0.8, 0.0)),  # another baby crying, marked
            (100.0, "cry", 0.5, scores(0.9, 0.0)),
            (200.0, "recurring", 0.5, scores(0.8, 0.0)),
        ]
    )
    outcome = replay_labels(home, cry_bars([home], RULE.quantile), RULE)
    assert (outcome.recurring, outcome.recurring_alerted) == (1, 1)


def test_the_run_log_keeps_each_run_once() -> None:
    class Run:
        def __init__(self, centre: float) -> None:
            self.centre_s, self.class_scores = centre, scores(0.1, 0.1)

    class Detector:
        def __init__(self) -> None:
            self.runs = [Run(0.5), Run(0.8), Run(1.4)]

        def runs_between(self, start: float, end: float) -> list[Run]:
            return [r for r in self.runs if start <= r.centre_s <= end]

    log = RunLog()
    log(Detector(), 1.0)  # type: ignore[arg-type]
    log(Detector(), 2.0)  # type: ignore[arg-type]
    assert log.centres == [0.5, 0.8, 1.4]
