"""Sensitivity mapping, the level meter and the live detector's wall-clock events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge.detection import LiveDetector, SoundLevelMeter, hysteresis_for
from models.contract import DeviceSettings
from models.cry import CryDetector, HysteresisParams, load_audio
from models.cry.ignore import IgnoreRule

CALIBRATED = HysteresisParams(on_threshold=0.9, off_threshold=0.45)
CRY_CLIP = Path(__file__).resolve().parents[1] / "data" / "audio" / "cry_donateacry.flac"


def test_the_default_sensitivity_is_the_calibrated_operating_point() -> None:
    tuned = hysteresis_for(CALIBRATED, DeviceSettings())
    assert tuned.on_threshold == pytest.approx(0.9)
    assert tuned.off_threshold == pytest.approx(0.45)


def test_higher_sensitivity_lowers_the_threshold_monotonically() -> None:
    thresholds = [
        hysteresis_for(CALIBRATED, DeviceSettings(cry_sensitivity=s)).on_threshold
        for s in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert thresholds == sorted(thresholds, reverse=True)
    assert 0.0 < thresholds[-1] < 0.5 < 0.9 < thresholds[0] < 1.0
    tuned = hysteresis_for(CALIBRATED, DeviceSettings(cry_sensitivity=1.0, cry_cooldown_s=42.0))
    assert tuned.off_threshold == pytest.approx(tuned.on_threshold / 2)
    assert tuned.cooldown_s == 42.0


def test_level_meter_reports_energy_average_and_loudest_block() -> None:
    meter = SoundLevelMeter(sample_rate=1000, block_s=0.1)
    assert meter.take() is None
    quiet = np.full(900, 0.01, dtype=np.float32)  # -40 dBFS
    loud = np.full(100, 0.1, dtype=np.float32)  # -20 dBFS
    for chunk in np.array_split(np.concatenate((quiet, loud)), 7):  # odd chunk sizes
        meter.add(chunk)
    summary = meter.take()
    assert summary is not None
    assert summary.max_dbfs == pytest.approx(-20.0, abs=0.01)
    expected_avg = 10 * np.log10((900 * 0.01**2 + 100 * 0.1**2) / 1000)
    assert summary.avg_dbfs == pytest.approx(expected_avg, abs=0.01)
    assert summary.seconds == pytest.approx(1.0)
    assert meter.take() is None  # started afresh


def test_silence_reads_as_the_floor_not_minus_infinity() -> None:
    meter = SoundLevelMeter(sample_rate=1000)
    meter.add(np.zeros(1000, dtype=np.float32))
    summary = meter.take()
    assert summary is not None
    assert summary.avg_dbfs == summary.max_dbfs == -120.0


def _feed(live: LiveDetector, samples: np.ndarray, chunk: int) -> list:  # type: ignore[type-arg]
    events = []
    for start in range(0, len(samples), chunk):
        events += live.process(samples[start : start + chunk])
    return events + live.finish()


def test_a_cry_clip_yields_a_started_and_ended_event_anchored_to_the_wall_clock() -> None:
    detector = CryDetector.from_manifest()
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    live = LiveDetector(detector, DeviceSettings(), SoundLevelMeter(16000), wall_clock=lambda: now)
    samples = load_audio(CRY_CLIP, 16000)
    events = _feed(live, samples, 1600)
    kinds = [timed.event.kind for timed in events]
    assert kinds[:2] == ["cry_started", "cry_ended"]
    started = events[0]
    # The cry started event.t seconds into the stream; the stream is "now" when it is noticed.
    assert started.occurred_at < now
    assert now - started.occurred_at <= timedelta(seconds=len(samples) / 16000)


def test_disabling_detection_closes_the_open_episode_and_stops_events() -> None:
    detector = CryDetector.from_manifest()
    live = LiveDetector(detector, DeviceSettings(), SoundLevelMeter(16000))
    samples = load_audio(CRY_CLIP, 16000)
    events = []
    for start in range(0, len(samples), 1600):
        events += live.process(samples[start : start + 1600])
        if events and detector.in_episode:
            break
    assert [e.event.kind for e in events] == ["cry_started"]
    live.update_settings(DeviceSettings(cry_detection_enabled=False))
    after = _feed(live, samples, 1600)
    assert [e.event.kind for e in after] == ["cry_ended"]


def test_a_sensitivity_change_reaches_the_detector_before_the_next_chunk() -> None:
    detector = CryDetector.from_manifest()
    live = LiveDetector(detector, DeviceSettings(), SoundLevelMeter(16000))
    before = live.hysteresis.on_threshold
    live.update_settings(DeviceSettings(cry_sensitivity=0.9))
    assert live.hysteresis.on_threshold == before  # not yet: the audio thread applies it
    live.process(np.zeros(160, dtype=np.float32))
    assert live.hysteresis.on_threshold < before


def test_the_ignore_rule_follows_a_lowered_sensitivity() -> None:
    """At a low cry sensitivity the onset threshold passes the rule's measured must-alert bound
    (0.60): the bound the agent applies moves above it, or no "not a cry" mark could ever
    silence an onset; at the calibrated sensitivity and above it is as measured."""
    detector = CryDetector.from_manifest()
    rule = IgnoreRule()
    live = LiveDetector(detector, DeviceSettings(cry_sensitivity=0.2), SoundLevelMeter(16000))
    assert live.hysteresis.on_threshold > rule.must_alert_confidence
    assert live.ignore_rule(rule).must_alert_confidence > live.hysteresis.on_threshold
    for sensitivity in (0.5, 0.9):
        live.update_settings(DeviceSettings(cry_sensitivity=sensitivity))
        live.process(np.zeros(1600, dtype=np.float32))
        assert live.ignore_rule(rule) == rule
