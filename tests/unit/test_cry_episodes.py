"""Hysteresis on synthetic score sequences: k-of-n onset, offset, minimum length, cooldown."""

from __future__ import annotations

import pytest

from models.cry.episodes import (
    CryEvent,
    EpisodeTracker,
    HysteresisParams,
    WindowScore,
    episodes_from_events,
)

HOP_S = 0.25
WINDOW_S = 1.0
PARAMS = HysteresisParams(
    on_threshold=0.6,
    off_threshold=0.3,
    onset_k=3,
    onset_n=4,
    offset_s=2.0,
    min_duration_s=0.5,
    cooldown_s=5.0,
)


def run(scores: list[float], params: HysteresisParams = PARAMS) -> list[CryEvent]:
    tracker = EpisodeTracker(params)
    events: list[CryEvent] = []
    for index, score in enumerate(scores):
        start = index * HOP_S
        events += tracker.update(WindowScore(start, start + WINDOW_S, score, -30.0))
    return events + tracker.finish(len(scores) * HOP_S + WINDOW_S)


def kinds(events: list[CryEvent]) -> list[str]:
    return [event.kind for event in events]


def test_isolated_hot_windows_do_not_start_an_episode() -> None:
    # Never 3 of 4 consecutive windows over 0.6.
    assert run([0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.9, 0.1, 0.1, 0.1] * 3) == []


def test_k_of_n_windows_start_an_episode_at_the_first_hot_window() -> None:
    events = run([0.1, 0.9, 0.2, 0.8, 0.7, 0.1] + [0.0] * 20)
    assert kinds(events) == ["cry_started", "cry_ended"]
    started = events[0]
    assert started.t == pytest.approx(1 * HOP_S + WINDOW_S / 2)  # centre of the first hot one
    assert started.emitted_at_s == pytest.approx(4 * HOP_S + WINDOW_S)  # when the 3rd arrived
    assert started.confidence == pytest.approx(0.9)


def test_offset_waits_for_m_seconds_under_the_off_threshold() -> None:
    # Dips under 0.3 shorter than 2 s (7 windows = 1.75 s) keep the episode open.
    scores = [0.9] * 4 + [0.1] * 7 + [0.5] + [0.1] * 20
    events = run(scores)
    assert kinds(events) == ["cry_started", "cry_ended"]
    ended = events[1]
    last_hot = 11  # the 0.5 window is over the off threshold: it extends the episode
    assert ended.t == pytest.approx(last_hot * HOP_S + WINDOW_S / 2)
    assert ended.emitted_at_s - (last_hot * HOP_S + WINDOW_S) >= PARAMS.offset_s
    assert ended.emitted_at_s - (last_hot * HOP_S + WINDOW_S) < PARAMS.offset_s + HOP_S
    assert ended.duration_s == pytest.approx(ended.t - events[0].t)


def test_scores_between_thresholds_neither_start_nor_end() -> None:
    assert run([0.5] * 30) == []
    events = run([0.9] * 4 + [0.5] * 40 + [0.0] * 10)
    assert kinds(events) == ["cry_started", "cry_ended"]
    assert events[1].t == pytest.approx(43 * HOP_S + WINDOW_S / 2)


def test_minimum_duration_delays_onset() -> None:
    long_minimum = HysteresisParams(
        on_threshold=0.6,
        off_threshold=0.3,
        onset_k=2,
        onset_n=2,
        offset_s=1.0,
        min_duration_s=1.5,
        cooldown_s=0.0,
    )
    assert run([0.9, 0.9] + [0.0] * 10, long_minimum) == []  # hot for only 0.75 s
    events = run([0.9] * 6 + [0.0] * 10, long_minimum)
    assert kinds(events) == ["cry_started", "cry_ended"]
    assert events[0].emitted_at_s - events[0].t >= long_minimum.min_duration_s


def test_cooldown_suppresses_a_second_alert_then_allows_one() -> None:
    burst = [0.9] * 4
    quiet_short = [0.0] * 12  # 2 s offset + 1 s: inside the 5 s cooldown
    quiet_long = [0.0] * 40
    events = run(burst + quiet_short + burst + quiet_long + burst + [0.0] * 12)
    assert kinds(events) == ["cry_started", "cry_ended", "cry_started", "cry_ended"]
    second_start = events[2].t
    assert second_start > events[1].emitted_at_s + PARAMS.cooldown_s


def test_episode_open_at_stream_end_is_closed_by_finish() -> None:
    events = run([0.9] * 10)
    assert kinds(events) == ["cry_started", "cry_ended"]
    episodes = episodes_from_events(events)
    assert len(episodes) == 1
    assert episodes[0].duration_s > 0


def test_invalid_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="off_threshold"):
        HysteresisParams(on_threshold=0.3, off_threshold=0.6)
    with pytest.raises(ValueError, match="onset_k"):
        HysteresisParams(onset_k=4, onset_n=3)
