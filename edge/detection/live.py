"""The detector as the daemon runs it: microphone chunks in, wall-clock cry events out.

Runs on the audio thread. Settings changes arrive from the MQTT thread and are handed over
through one reference that the audio thread picks up before its next chunk, so the detector
itself is only ever touched by one thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from edge.detection.level import SoundLevelMeter
from edge.detection.sensitivity import hysteresis_for
from models.contract import DeviceSettings
from models.cry import CryDetector, CryEvent, HysteresisParams, WindowScore
from models.cry.ignore import IgnoreRule

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TimedCryEvent:
    event: CryEvent
    # Wall-clock time of ``event.t`` - when the cry started or ended, not when it was noticed.
    occurred_at: datetime
    # Why a ``cry_ended`` was not heard as quiet (the contract's ``end_reason``); None when the
    # detector heard it end.
    end_reason: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LiveDetector:
    def __init__(
        self,
        detector: CryDetector,
        settings: DeviceSettings,
        meter: SoundLevelMeter,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._detector = detector
        self._calibrated: HysteresisParams = detector.hysteresis
        self._meter = meter
        self._wall_clock = wall_clock
        self._enabled = settings.cry_detection_enabled
        self._detector.set_hysteresis(hysteresis_for(self._calibrated, settings))
        self._pending_settings: DeviceSettings | None = None
        self._settings_lock = threading.Lock()

    @property
    def fingerprint_model(self) -> str | None:
        """The backbone the events' fingerprints come from (None: they carry none)."""
        return self._detector.fingerprint_model

    @property
    def hysteresis(self) -> HysteresisParams:
        return self._detector.hysteresis

    def ignore_rule(self, rule: IgnoreRule) -> IgnoreRule:
        """``rule`` at the onset threshold in use (IgnoreRule.at_onset_threshold): its
        must-alert bound follows a lowered cry sensitivity."""
        return rule.at_onset_threshold(self._calibrated.on_threshold, self.hysteresis.on_threshold)

    def update_settings(self, settings: DeviceSettings) -> None:
        """Called from any thread; takes effect before the next chunk."""
        with self._settings_lock:
            self._pending_settings = settings

    def process(self, samples: npt.NDArray[np.float32]) -> list[TimedCryEvent]:
        """Feed one chunk (mono float32 at the model rate); events are returned at once."""
        events = self._apply_pending_settings()
        self._meter.add(samples)
        if self._enabled:
            events += self._timed(self._detector.feed(samples))
        return events

    def finish(self) -> list[TimedCryEvent]:
        """End of the audio (shutdown, file end): close an open episode."""
        return self._timed(self._detector.finish()) if self._enabled else []

    # ---- an episode the agent did not alert on (edge/ignored_episode.py) ----

    def take_peak(self) -> WindowScore | None:
        """The detector's highest window since the last look or the latest onset
        (CryDetector.take_peak); None while detection is off."""
        peak = self._detector.take_peak()
        return peak if self._enabled else None

    def onset_at(self, window: WindowScore) -> TimedCryEvent:
        """A ``cry_started`` at that window (CryDetector.onset_at), on the wall clock."""
        [timed] = self._timed([self._detector.onset_at(window)])
        return timed

    def skip_cooldown(self) -> None:
        self._detector.skip_cooldown()

    def _apply_pending_settings(self) -> list[TimedCryEvent]:
        with self._settings_lock:
            settings, self._pending_settings = self._pending_settings, None
        if settings is None:
            return []
        events: list[TimedCryEvent] = []
        if self._enabled and not settings.cry_detection_enabled:
            events = self.finish()
        elif settings.cry_detection_enabled and not self._enabled:
            self._detector.reset()  # no stale half-window from before detection was paused
        self._enabled = settings.cry_detection_enabled
        self._detector.set_hysteresis(hysteresis_for(self._calibrated, settings))
        logger.info(
            "cry detection %s, onset threshold %.3f",
            "on" if self._enabled else "off",
            self._detector.hysteresis.on_threshold,
        )
        return events

    def _timed(self, events: list[CryEvent]) -> list[TimedCryEvent]:
        if not events:
            return []
        # The detector knows stream seconds; the newest sample is "now". Anchoring on the
        # present rather than the stream's start keeps timestamps honest when audio is replayed
        # faster than real time or the sound card drifted.
        now = self._wall_clock()
        stream_now = self._detector.stream_time_s
        return [
            TimedCryEvent(event, now - timedelta(seconds=max(0.0, stream_now - event.t)))
            for event in events
        ]
