"""One cry detector for the edge daemon (live stream), the cloud (uploaded file) and the CLI.

Both paths run the same steps - log-mel frames, 1 s windows every hop, one model score per
window, ``EpisodeTracker`` hysteresis - and produce identical scores for identical audio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from models.cry.audio import load_audio, resample, rms_dbfs
from models.cry.episodes import (
    CryEvent,
    Episode,
    EpisodeTracker,
    HysteresisParams,
    WindowScore,
    episodes_from_events,
)
from models.cry.features import (
    LogMelParams,
    StreamingLogMel,
    WindowParams,
    log_mel,
    normalise_window,
    window_starts,
)
from models.cry.manifest import ModelManifest, load_manifest

FloatArray = npt.NDArray[np.float32]


class WindowScorer(Protocol):
    def score(self, window: FloatArray) -> float: ...


def default_model_manifest_path() -> Path:
    """The manifest of the model shipped inside the package (models/artifacts)."""
    from models.artifacts import MANIFEST_PATH

    return MANIFEST_PATH


@dataclass(frozen=True)
class Analysis:
    """Result of scoring a whole clip (the cloud's upload path and ``nursery-model evaluate``)."""

    max_score: float
    is_cry: bool
    episodes: list[Episode]
    window_scores: list[WindowScore]
    duration_s: float


class CryDetector:
    """Streaming (``feed``/``finish``) and whole-clip (``analyze``/``score_file``) detection."""

    def __init__(
        self,
        scorer: WindowScorer,
        features: LogMelParams,
        windows: WindowParams,
        hysteresis: HysteresisParams,
        on_window: Callable[[WindowScore], None] | None = None,
    ) -> None:
        self.scorer = scorer
        self.on_window = on_window  # sees every scored window (tests, level meters, debugging)
        self.features = features
        self.windows = windows
        self.hysteresis = hysteresis
        self.window_samples = features.frame_length + (windows.window_frames - 1) * (
            features.hop_length
        )
        self.reset()

    @classmethod
    def from_manifest(
        cls,
        manifest: ModelManifest | str | Path | None = None,
        num_threads: int = 1,
        hysteresis: HysteresisParams | None = None,
    ) -> CryDetector:
        from models.cry.runtime import TFLiteScorer

        if not isinstance(manifest, ModelManifest):
            manifest = load_manifest(manifest or default_model_manifest_path())
        scorer = TFLiteScorer(
            manifest.model_path, num_threads=num_threads, output_is_logit=manifest.output_is_logit
        )
        return cls(scorer, manifest.features, manifest.windows, hysteresis or manifest.hysteresis)

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    # ---- streaming API (edge daemon, nursery-edge detect) ----

    def reset(self) -> None:
        self._stream = StreamingLogMel(self.features)
        self._tracker = EpisodeTracker(self.hysteresis)
        self._frames = np.zeros((0, self.features.n_mels), dtype=np.float32)
        self._first_frame = 0  # stream index of self._frames[0]
        self._next_window = 0  # stream frame index where the next window starts
        self._audio = np.zeros(0, dtype=np.float32)  # samples from the next window's start on
        self._samples_seen = 0

    def set_hysteresis(self, params: HysteresisParams) -> None:
        """Change thresholds live (the parents moved the sensitivity slider)."""
        self.hysteresis = params
        self._tracker.retune(params)

    @property
    def in_episode(self) -> bool:
        return self._tracker.in_episode

    @property
    def stream_time_s(self) -> float:
        return self._samples_seen / self.sample_rate

    def feed(self, chunk: npt.ArrayLike) -> list[CryEvent]:
        """Push mono float32 samples at the model rate (``sample_rate``); get back events.

        Open the microphone at the model rate (ALSA resamples well); resampling chunk by chunk
        here would add seams at every chunk boundary.
        """
        samples = np.asarray(chunk, dtype=np.float32).reshape(-1)
        self._samples_seen += len(samples)
        self._audio = np.concatenate((self._audio, samples))
        new_rows = self._stream.push(samples)
        if len(new_rows):
            self._frames = np.concatenate((self._frames, new_rows))
        return self._score_ready_windows()

    def finish(self) -> list[CryEvent]:
        """Close an episode still open at the end of the stream."""
        return self._tracker.finish(self.stream_time_s)

    def _score_ready_windows(self) -> list[CryEvent]:
        events: list[CryEvent] = []
        frames_total = self._first_frame + len(self._frames)
        while self._next_window + self.windows.window_frames <= frames_total:
            offset = self._next_window - self._first_frame
            window = self._frames[offset : offset + self.windows.window_frames]
            audio_offset = offset * self.features.hop_length
            audio = self._audio[audio_offset : audio_offset + self.window_samples]
            events += self._tracker.update(self._score(window, self._next_window, audio))
            self._next_window += self.windows.hop_frames
        drop = self._next_window - self._first_frame
        if drop > 0:
            self._frames = self._frames[drop:]
            self._audio = self._audio[drop * self.features.hop_length :]
            self._first_frame = self._next_window
        return events

    def _score(self, window_db: FloatArray, first_frame: int, audio: FloatArray) -> WindowScore:
        start_s = first_frame * self.features.hop_length / self.sample_rate
        score = self.scorer.score(normalise_window(window_db, self.windows))
        scored = WindowScore(
            start_s, start_s + self.window_samples / self.sample_rate, score, rms_dbfs(audio)
        )
        if self.on_window is not None:
            self.on_window(scored)
        return scored

    # ---- whole-clip API (cloud upload, evaluation) ----

    def window_scores(self, samples: FloatArray) -> list[WindowScore]:
        """Scores of every window of a clip at the model rate; short clips are zero-padded."""
        missing = self.window_samples - len(samples)
        padded = np.pad(samples, (0, missing)) if missing > 0 else samples
        frames_db = log_mel(padded, self.features)
        scores = []
        for first in window_starts(len(frames_db), self.windows):
            span = padded[first * self.features.hop_length :][: self.window_samples]
            window = frames_db[first : first + self.windows.window_frames]
            scores.append(self._score(window, first, span))
        return scores

    def analyze(self, samples: npt.ArrayLike, sample_rate: int) -> Analysis:
        audio = resample(
            np.asarray(samples, dtype=np.float32).reshape(-1), sample_rate, self.sample_rate
        )
        scores = self.window_scores(audio)
        tracker = EpisodeTracker(self.hysteresis)
        events = [event for window in scores for event in tracker.update(window)]
        events += tracker.finish(len(audio) / self.sample_rate)
        max_score = max(window.score for window in scores)
        return Analysis(
            max_score=max_score,
            is_cry=max_score >= self.hysteresis.on_threshold,
            episodes=episodes_from_events(events),
            window_scores=scores,
            duration_s=len(audio) / self.sample_rate,
        )

    def score_file(self, path: str | Path) -> Analysis:
        return self.analyze(load_audio(path, self.sample_rate), self.sample_rate)
