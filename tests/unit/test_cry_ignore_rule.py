"""The "not a cry" rule: a marked sound silences its likes, never a confident onset."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from models.cry.fingerprint import normalised
from models.cry.ignore import IgnoredSound, IgnoreRule, match_ignored

MARKED = datetime(2026, 12, 7, tzinfo=UTC)


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(1024, dtype=np.float32)
    vector[: len(values)] = values
    result = normalised(vector)
    assert result is not None
    return result


def alike(similarity: float) -> np.ndarray:
    """A unit fingerprint whose cosine with unit(1) is ``similarity``."""
    return unit(similarity, float(np.sqrt(1.0 - similarity**2)))


CAT = IgnoredSound(7, MARKED, unit(1))
DOG = IgnoredSound(8, MARKED, unit(0, 0, 1))


def test_the_defaults_are_the_measured_ones() -> None:
    # bench_not_a_cry, 2026-12-07 (docs/cry-detector.md "Not a cry"): a change here needs a
    # new measurement, not just a new number.
    assert IgnoreRule() == IgnoreRule(similarity=0.93, must_alert_confidence=0.60)


def test_an_onset_like_a_marked_sound_is_ignored_and_names_it() -> None:
    found = match_ignored(alike(0.95), 0.5, [DOG, CAT], IgnoreRule())
    assert found is not None
    assert found.sound is CAT
    assert found.similarity == pytest.approx(0.95, abs=1e-5)


def test_an_onset_less_alike_than_the_threshold_alerts() -> None:
    assert match_ignored(alike(0.92), 0.5, [CAT], IgnoreRule()) is None
    assert match_ignored(alike(0.92), 0.5, [CAT], IgnoreRule(similarity=0.9)) is not None


def test_a_confident_onset_alerts_whatever_it_sounds_like() -> None:
    rule = IgnoreRule()
    assert match_ignored(unit(1), rule.must_alert_confidence - 0.01, [CAT], rule) is not None
    assert match_ignored(unit(1), rule.must_alert_confidence, [CAT], rule) is None
    assert match_ignored(unit(1), 0.99, [CAT], rule) is None


def test_no_fingerprint_or_an_empty_list_alerts() -> None:
    assert match_ignored(None, 0.5, [CAT], IgnoreRule()) is None
    assert match_ignored(unit(1), 0.5, [], IgnoreRule()) is None


@pytest.mark.parametrize(
    ("similarity", "must_alert"), [(0.0, 0.65), (1.01, 0.65), (0.85, 0.0), (0.85, 1.5)]
)
def test_a_rule_outside_its_range_is_refused(similarity: float, must_alert: float) -> None:
    with pytest.raises(ValueError, match="ignore"):
        IgnoreRule(similarity=similarity, must_alert_confidence=must_alert)


def test_a_raised_onset_threshold_raises_the_must_alert_bound_by_as_many_logits() -> None:
    rule = IgnoreRule()
    calibrated = 0.369

    def logit(p: float) -> float:
        return float(np.log(p / (1.0 - p)))

    # At the calibrated threshold, or a lower one (a raised sensitivity), the bound is as
    # measured: the extra, less sure alerts are what a mark should silence.
    assert rule.at_onset_threshold(calibrated, calibrated) == rule
    assert rule.at_onset_threshold(calibrated, 0.05) == rule
    # A lowered sensitivity whose threshold passes the measured bound: the bound moves with it,
    # so an onset just over the threshold can still be ignored.
    moved = rule.at_onset_threshold(calibrated, 0.70)
    shift = logit(0.70) - logit(calibrated)
    assert logit(moved.must_alert_confidence) == pytest.approx(logit(0.60) + shift, abs=1e-3)
    assert moved.must_alert_confidence > 0.70
    assert moved.similarity == rule.similarity
    onset = match_ignored(alike(0.99), 0.72, [CAT], moved)
    assert onset is not None
    assert onset.sound == CAT
    assert match_ignored(alike(0.99), 0.72, [CAT], rule) is None
    # "Never ignore" stays never.
    never = IgnoreRule(must_alert_confidence=1.0)
    assert never.at_onset_threshold(calibrated, 0.9) == never
