"""Replaying one "not a cry" mark over a streamed night's episodes."""

from __future__ import annotations

import numpy as np

from models.cry.episodes import CryEvent
from models.cry.ignore import IgnoreRule
from models.training.ignore_eval import (
    Cause,
    Ceiling,
    HeardEpisode,
    ceiling,
    heard_episodes,
    replay_mark,
    replay_marking_every_alert,
)
from models.training.night import Night
from models.training.recurring_night import RecurringNight

RULE = IgnoreRule(similarity=0.8, must_alert_confidence=0.9)


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(1024, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.float32(np.linalg.norm(vector))


CAT_ONSET, CAT_WHOLE, CRY = unit(1, 0.3), unit(1, 0, 0.3), unit(0, 1)
TRUTH = RecurringNight(
    Night(np.zeros(16_000, dtype=np.float32), 16_000, cries=[(100.0, 110.0), (300.0, 310.0)]),
    recurring=[(50.0, 55.0), (200.0, 205.0), (400.0, 405.0)],
    others=[(500.0, 502.0)],
    bed="machine",
)


def episode(start: float, cause: str, confidence: float, onset: np.ndarray) -> HeardEpisode:
    return HeardEpisode(start, start + 5.0, confidence, onset, CAT_WHOLE, cause)  # type: ignore[arg-type]


def test_events_pair_into_episodes_named_by_what_was_placed_there() -> None:
    def pair(start: float, end: float) -> list[CryEvent]:
        return [
            CryEvent("cry_started", start, start + 0.5, 0.6, -30.0, fingerprint=CAT_ONSET),
            CryEvent("cry_ended", end, end + 3.0, 0.7, -30.0, end - start, fingerprint=CAT_WHOLE),
        ]

    events = pair(50.5, 54.0) + pair(100.2, 109.0) + pair(500.5, 501.0) + pair(700.0, 701.0)
    heard = heard_episodes(events, TRUTH)
    assert [e.cause for e in heard] == ["recurring", "cry", "other", "other"]
    assert heard[0].confidence == 0.6
    assert heard[0].onset is CAT_ONSET
    assert heard[0].whole is CAT_WHOLE


def test_the_first_recurring_alert_is_marked_and_its_likes_later_are_ignored() -> None:
    episodes = [
        episode(50.0, "recurring", 0.6, CAT_ONSET),  # the alert the parent marks
        episode(100.0, "cry", 0.6, CRY),
        episode(200.0, "recurring", 0.6, unit(1, 0.35)),  # alike: ignored
        episode(300.0, "cry", 0.6, unit(1, 0.3)),  # sounds like the cat: silenced
        episode(400.0, "recurring", 0.95, CAT_ONSET),  # too confident to silence
        episode(500.0, "other", 0.5, unit(0, 0, 1)),
    ]
    outcome = replay_mark(episodes, TRUTH.night.cries, "onset", RULE)
    assert outcome.marked_at_s == 55.0
    assert (outcome.recurring, outcome.recurring_alerted) == (2, 1)
    assert outcome.recurring_drop == 0.5
    assert (outcome.cries, outcome.cries_found, outcome.cries_found_with_mark) == (2, 2, 1)
    assert outcome.recall == 1.0
    assert outcome.recall_with_mark == 0.5
    assert outcome.cry_episodes_ignored == 1
    assert (outcome.others, outcome.others_alerted) == (1, 1)


def test_which_fingerprint_of_the_marked_episode_is_kept_decides_what_matches() -> None:
    later = episode(200.0, "recurring", 0.6, CAT_WHOLE)
    episodes = [episode(50.0, "recurring", 0.6, unit(0, 0, 0, 1)), later]
    assert replay_mark(episodes, [], "onset", RULE).recurring_alerted == 1
    assert replay_mark(episodes, [], "episode", RULE).recurring_alerted == 0
    assert replay_mark(episodes, [], "both", RULE).recurring_alerted == 0


def test_without_a_recurring_alert_nothing_is_marked() -> None:
    outcome = replay_mark([episode(100.0, "cry", 0.6, CRY)], TRUTH.night.cries, "both", RULE)
    assert outcome.marked_at_s is None
    assert outcome.recurring_drop is None


def test_a_persistent_parent_marks_every_recurring_alert_that_still_comes() -> None:
    far = unit(1, 1, 1)  # the cat from across the room: unlike the first mark
    episodes = [
        episode(50.0, "recurring", 0.6, CAT_ONSET),
        episode(200.0, "recurring", 0.6, far),  # alerts, so it is marked too
        episode(400.0, "recurring", 0.6, unit(1, 1, 1.05)),  # like the second mark: ignored
    ]
    once = replay_mark(episodes, [], "onset", RULE)
    every = replay_marking_every_alert(episodes, [], "onset", RULE)
    assert (once.recurring_alerted, once.marks) == (2, 1)
    assert (every.recurring, every.recurring_alerted, every.marks) == (2, 1, 2)


def test_the_chunk_peaks_between_start_and_end_being_sent_go_with_the_episode() -> None:
    events = [
        CryEvent("cry_started", 100.2, 101.0, 0.6, -30.0, fingerprint=CRY),
        CryEvent("cry_ended", 109.0, 112.0, 0.95, -30.0, 8.8, fingerprint=CRY),
    ]
    peaks = [(100.0, 0.7), (101.0, 0.62), (105.0, 0.93), (111.0, 0.5), (112.0, 0.2)]
    (heard,) = heard_episodes(events, TRUTH, peaks)
    assert heard.peaks == ((101.0, 0.62), (105.0, 0.93), (111.0, 0.5))
    assert heard.became_a_cry_at(0.9) == 105.0
    assert heard.became_a_cry_at(0.99) is None


def test_an_ignored_episode_whose_score_reaches_the_bound_alerts_late_as_on_the_device() -> None:
    def later(start: float, cause: Cause, peak: float) -> HeardEpisode:
        return HeardEpisode(
            start,
            start + 5.0,
            0.6,
            CAT_ONSET,
            CAT_WHOLE,
            cause,
            ((start + 1, 0.7), (start + 3, peak)),
        )

    episodes = [
        episode(50.0, "recurring", 0.6, CAT_ONSET),  # marked
        later(100.0, "cry", 0.92),  # sounds like the cat, but the baby cries harder: alerts at 103
        later(200.0, "recurring", 0.8),  # stays under 0.9: ignored
        later(300.0, "cry", 0.85),  # a cry that never gets there: silenced
    ]
    outcome = replay_mark(episodes, TRUTH.night.cries, "onset", RULE)
    assert (outcome.recurring, outcome.recurring_alerted) == (1, 0)
    assert (outcome.cries, outcome.cries_found_with_mark) == (2, 1)
    assert outcome.cry_episodes_ignored == 1
    assert outcome.cry_alerts_late_s == (3.0,)
    every = replay_marking_every_alert(episodes, TRUTH.night.cries, "onset", RULE)
    assert every.cry_alerts_late_s == (3.0,)


def test_the_ceiling_counts_what_any_threshold_could_silence_in_this_home() -> None:
    def heard(start: float, cause: Cause, onset: np.ndarray, peak: float = 0.5) -> HeardEpisode:
        return HeardEpisode(start, start + 5.0, 0.5, onset, CAT_WHOLE, cause, ((start + 1, peak),))

    episodes = [
        heard(50.0, "recurring", CAT_ONSET),  # marked
        heard(100.0, "cry", unit(1, 0.6)),  # the most cat-like cry the bound leaves unprotected
        heard(150.0, "cry", CAT_ONSET, peak=0.95),  # protected: it reaches the bound
        heard(200.0, "recurring", unit(1, 0.35)),  # more alike than that cry
        heard(300.0, "recurring", unit(1, 0.9)),  # less alike: a threshold would cost the cry
        heard(400.0, "recurring", CAT_ONSET, peak=0.95),  # reaches the bound: never silenced
    ]
    assert ceiling(episodes, 0.9) == Ceiling(repeats=3, under_bound=2, past_every_cry=1)
    # Without any cry to spare, every repeat under the bound could go.
    no_cries = [e for e in episodes if e.cause != "cry"]
    assert ceiling(no_cries, 0.9) == Ceiling(repeats=3, under_bound=2, past_every_cry=2)
    assert ceiling(episodes[1:3], 0.9) is None  # nothing of the sound was ever marked
