"""Window scores -> cry episodes, with hysteresis so one cry raises one alert.

Onset: ``onset_k`` of the last ``onset_n`` windows reach ``on_threshold`` and the candidate has
lasted ``min_duration_s``. Offset: no window reaches ``off_threshold`` for ``offset_s``. After
an episode ends, new onsets are ignored for ``cooldown_s`` (a parent who just got up does not
need a second alarm for the same fussing). Times are seconds from the start of the stream; a
window is placed at its centre.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

EventKind = Literal["cry_started", "cry_ended"]


@dataclass(frozen=True)
class HysteresisParams:
    on_threshold: float = 0.5
    off_threshold: float = 0.3
    onset_k: int = 2
    onset_n: int = 3
    offset_s: float = 3.0
    min_duration_s: float = 0.5
    cooldown_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.off_threshold <= self.on_threshold <= 1.0:
            raise ValueError("need 0 <= off_threshold <= on_threshold <= 1")
        if not 1 <= self.onset_k <= self.onset_n:
            raise ValueError("need 1 <= onset_k <= onset_n")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HysteresisParams:
        return cls(**data)


@dataclass(frozen=True)
class WindowScore:
    start_s: float
    end_s: float
    score: float
    level_dbfs: float

    @property
    def centre_s(self) -> float:
        return (self.start_s + self.end_s) / 2.0


@dataclass(frozen=True)
class HeardLabel:
    """One sound class the detector's backbone heard in an episode and its score (0..1), so an
    alert can say what the detector heard besides its cry score ("Whimper 0.41")."""

    label: str
    score: float


@dataclass(frozen=True)
class CryEvent:
    """``t`` is when the cry started (or ended); ``emitted_at_s`` is when the detector knew.
    ``heard`` is the episode's top labels, best first; empty when the detector gives none.
    ``fingerprint`` is the unit mean embedding of the stage-two runs the event covers (a
    start: the runs that decided the onset; an end: the whole episode), None without stage
    two (models/cry/fingerprint.py). It stays on the device."""

    kind: EventKind
    t: float
    emitted_at_s: float
    confidence: float
    level_dbfs: float
    duration_s: float | None = None
    heard: tuple[HeardLabel, ...] = ()
    # Not compared: an array has no single truth value, and two events are the same event
    # whatever their fingerprints' float noise. Not in repr: a log line or a traceback must
    # never print a fingerprint's values (it stays on the device).
    fingerprint: npt.NDArray[np.float32] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Episode:
    start_s: float
    end_s: float
    confidence: float
    level_dbfs: float
    detected_at_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class EpisodeTracker:
    """Feed window scores in time order; get back cry_started / cry_ended events."""

    def __init__(self, params: HysteresisParams) -> None:
        self.params = params
        self._recent: deque[WindowScore] = deque(maxlen=params.onset_n)
        self._candidate: WindowScore | None = None  # first hot window of a possible onset
        self._active: Episode | None = None
        self._last_hot: WindowScore | None = None
        self._peak = 0.0
        self._loudest = float("-inf")
        self._quiet_until_s = float("-inf")

    @property
    def in_episode(self) -> bool:
        return self._active is not None

    def retune(self, params: HysteresisParams) -> None:
        """Use new thresholds from the next window on, keeping an open episode open."""
        if params.onset_n != self.params.onset_n:
            self._recent = deque(self._recent, maxlen=params.onset_n)
        self.params = params

    def skip_cooldown(self) -> None:
        """The next onset may start an episode at once (CryDetector.skip_cooldown)."""
        self._quiet_until_s = float("-inf")

    def update(self, window: WindowScore) -> list[CryEvent]:
        if self._active is None:
            return self._maybe_start(window)
        return self._continue(window)

    def finish(self, stream_end_s: float) -> list[CryEvent]:
        """End an open episode at the end of the stream (file end, daemon shutdown)."""
        if self._active is None or self._last_hot is None:
            return []
        return [self._end(stream_end_s)]

    def _maybe_start(self, window: WindowScore) -> list[CryEvent]:
        if window.start_s < self._quiet_until_s:
            return []
        self._recent.append(window)
        hot = [w for w in self._recent if w.score >= self.params.on_threshold]
        if not hot:
            self._candidate = None  # a full n-window gap: any earlier hint of crying is over
            return []
        if self._candidate is None:
            self._candidate = hot[0]
        start_s = self._candidate.centre_s
        if len(hot) < self.params.onset_k or window.end_s - start_s < self.params.min_duration_s:
            return []
        confidence = max(w.score for w in hot)
        level = max(w.level_dbfs for w in hot)
        self._active = Episode(start_s, window.centre_s, confidence, level, window.end_s)
        self._last_hot, self._peak, self._loudest = hot[-1], confidence, level
        self._recent.clear()
        self._candidate = None
        return [CryEvent("cry_started", start_s, window.end_s, confidence, level)]

    def _continue(self, window: WindowScore) -> list[CryEvent]:
        assert self._last_hot is not None
        if window.score >= self.params.off_threshold:
            self._last_hot = window
            self._peak = max(self._peak, window.score)
            self._loudest = max(self._loudest, window.level_dbfs)
            return []
        if window.end_s - self._last_hot.end_s >= self.params.offset_s:
            return [self._end(window.end_s)]
        return []

    def _end(self, emitted_at_s: float) -> CryEvent:
        assert self._active is not None
        assert self._last_hot is not None
        end_s = max(self._last_hot.centre_s, self._active.start_s)
        event = CryEvent(
            "cry_ended",
            end_s,
            emitted_at_s,
            self._peak,
            self._loudest,
            duration_s=end_s - self._active.start_s,
        )
        self._active, self._last_hot = None, None
        self._quiet_until_s = emitted_at_s + self.params.cooldown_s
        return event


def episodes_from_events(events: list[CryEvent]) -> list[Episode]:
    """Pair started/ended events into episodes (the input must be a complete, finished run)."""
    episodes = []
    started: CryEvent | None = None
    for event in events:
        if event.kind == "cry_started":
            started = event
        elif started is not None:
            episodes.append(
                Episode(
                    started.t, event.t, event.confidence, event.level_dbfs, started.emitted_at_s
                )
            )
            started = None
    return episodes
