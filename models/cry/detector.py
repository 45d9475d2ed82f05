"""One cry detector for the edge daemon (live stream), the cloud (uploaded file) and the CLI.

Both paths run the same steps - log-mel frames, 1 s windows every hop, one model score per
window, ``EpisodeTracker`` hysteresis - and produce identical scores for identical audio.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from models.cry.audio import load_audio, resample, rms_dbfs
from models.cry.cascade import BackboneRun, CascadeScorer
from models.cry.episodes import (
    CryEvent,
    Episode,
    EpisodeTracker,
    HeardLabel,
    HysteresisParams,
    WindowScore,
    episodes_from_events,
)
from models.cry.errors import CryDetectorError
from models.cry.explain import top_labels
from models.cry.features import (
    LogMelParams,
    StreamingLogMel,
    WindowParams,
    log_mel,
    normalise_window,
    window_starts,
)
from models.cry.fingerprint import episode_fingerprint
from models.cry.manifest import ModelManifest, load_manifest

LOG = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]
DetectorMode = Literal["cascade", "small", "degraded"]
# Stage-two results kept to explain an episode: at one run every 0.3 s, about 10 minutes.
EXPLAIN_HISTORY = 2000
# A start event is explained from this long before the onset: the runs that made the decision.
EXPLAIN_LEAD_S = 1.0


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
        cascade: CascadeScorer | None = None,
        class_names: list[str] | None = None,
        explain_top_labels: int = 3,
        degraded_reason: str | None = None,
        fingerprint_model: str | None = None,
    ) -> None:
        self.scorer = scorer  # the small model: stage one of the cascade, or the detector alone
        self.cascade = cascade
        self.class_names = class_names or []
        self.explain_top_labels = explain_top_labels
        # Why stage two is not running although the manifest has one (shown by the agent).
        self.degraded_reason = degraded_reason
        # Which embedding the events' fingerprints come from (the backbone file's sha256):
        # fingerprints of two different backbones cannot be compared, so the device's list of
        # ignored sounds keeps it beside each one. None without stage two.
        self.fingerprint_model = fingerprint_model
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
        if manifest.cascade is None:
            return cls(
                scorer, manifest.features, manifest.windows, hysteresis or manifest.hysteresis
            )
        spec = manifest.cascade
        try:
            cascade, names = _load_stage_two(manifest, scorer, num_threads)
        except CryDetectorError as exc:
            # The small model alone still detects crying (less well in noise): a device whose
            # backbone file is damaged keeps watching and says so rather than going deaf.
            LOG.warning("cry detector degraded to the small model: %s", exc)
            return cls(
                scorer,
                manifest.features,
                manifest.windows,
                hysteresis or spec.fallback_hysteresis,
                degraded_reason=str(exc),
            )
        return cls(
            scorer,
            manifest.features,
            manifest.windows,
            hysteresis or manifest.hysteresis,
            cascade=cascade,
            class_names=names,
            explain_top_labels=spec.explain_top_labels,
            fingerprint_model=spec.backbone_sha256,
        )

    @property
    def mode(self) -> DetectorMode:
        if self.cascade is not None:
            return "cascade"
        return "degraded" if self.degraded_reason else "small"

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
        self._runs: deque[BackboneRun] = deque(maxlen=EXPLAIN_HISTORY)
        self._episode_start_s: float | None = None
        self._peak: WindowScore | None = None  # see take_peak
        if self.cascade is not None:
            self.cascade.reset()

    def set_hysteresis(self, params: HysteresisParams) -> None:
        """Change thresholds live (the parents moved the sensitivity slider)."""
        self.hysteresis = params
        self._tracker.retune(params)

    @property
    def in_episode(self) -> bool:
        return self._tracker.in_episode

    def take_peak(self) -> WindowScore | None:
        """The highest-scoring window handed to the tracker since the last call or the latest
        onset, whichever came later (None: none scored since). What the agent watches while an
        episode it did not alert on goes on (edge/ignored_episode.py): the onset's confidence
        says how the episode began, not what it became."""
        peak, self._peak = self._peak, None
        return peak

    def skip_cooldown(self) -> None:
        """Let the next onset start an episode at once, as if the last episode had not ended
        in a cooldown: the cooldown spares a parent a second alarm, and an episode the agent
        did not alert on (edge/ignored_episode.py) woke nobody."""
        self._tracker.skip_cooldown()

    def onset_at(self, window: WindowScore) -> CryEvent:
        """A ``cry_started`` at ``window``, with its score and level, explained like an onset
        (heard labels and fingerprint of the stage-two runs from EXPLAIN_LEAD_S before it)."""
        event = CryEvent(
            "cry_started", window.centre_s, window.end_s, window.score, window.level_dbfs
        )
        if self.cascade is None:
            return event
        heard, fingerprint = self._describe(window.centre_s - EXPLAIN_LEAD_S, window.end_s)
        return replace(event, heard=heard, fingerprint=fingerprint)

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
        return self._explained(self._tracker.finish(self.stream_time_s))

    def _explained(self, events: list[CryEvent]) -> list[CryEvent]:
        """Attach what stage two heard: from just before the onset to the start event, and
        over the whole episode to the end event. Unchanged without stage two."""
        if self.cascade is None:
            return events
        explained = []
        for event in events:
            if event.kind == "cry_started":
                self._episode_start_s = event.t
                start = event.t - EXPLAIN_LEAD_S
            else:
                start = self._episode_start_s if self._episode_start_s is not None else event.t
            heard, fingerprint = self._describe(start, max(event.emitted_at_s, event.t))
            explained.append(replace(event, heard=heard, fingerprint=fingerprint))
        return explained

    def _describe(
        self, start_s: float, end_s: float
    ) -> tuple[tuple[HeardLabel, ...], FloatArray | None]:
        runs = self.runs_between(start_s, end_s)
        heard = top_labels(runs, self.class_names, self.explain_top_labels)
        return tuple(HeardLabel(label, score) for label, score in heard), episode_fingerprint(runs)

    def _score_ready_windows(self) -> list[CryEvent]:
        events: list[CryEvent] = []
        frames_total = self._first_frame + len(self._frames)
        while self._next_window + self.windows.window_frames <= frames_total:
            offset = self._next_window - self._first_frame
            window = self._frames[offset : offset + self.windows.window_frames]
            audio_offset = offset * self.features.hop_length
            audio = self._audio[audio_offset : audio_offset + self.window_samples]
            scored = self._score(window, self._next_window, audio)
            if self._peak is None or scored.score > self._peak.score:
                self._peak = scored
            new = self._explained(self._tracker.update(scored))
            if any(event.kind == "cry_started" for event in new):
                self._peak = None  # take_peak: from the onset on
            events += new
            self._next_window += self.windows.hop_frames
        drop = self._next_window - self._first_frame
        if drop > 0:
            self._frames = self._frames[drop:]
            self._audio = self._audio[drop * self.features.hop_length :]
            self._first_frame = self._next_window
        return events

    def _score(self, window_db: FloatArray, first_frame: int, audio: FloatArray) -> WindowScore:
        start_s = first_frame * self.features.hop_length / self.sample_rate
        normalised = normalise_window(window_db, self.windows)
        level_dbfs = rms_dbfs(audio)
        if self.cascade is None:
            score = self.scorer.score(normalised)
        else:
            score = self.cascade.score(normalised, audio, start_s, level_dbfs)
            if self.cascade.last_run is not None:
                self._runs.append(self.cascade.last_run)
        scored = WindowScore(
            start_s, start_s + self.window_samples / self.sample_rate, score, level_dbfs
        )
        if self.on_window is not None:
            self.on_window(scored)
        return scored

    # ---- whole-clip API (cloud upload, evaluation) ----

    def window_scores(self, samples: FloatArray) -> list[WindowScore]:
        """Scores of every window of a clip at the model rate; short clips are zero-padded."""
        if self.cascade is not None:
            # From a closed gate, like a fresh stream: otherwise the last clip's gate and held
            # score leak into this clip's first seconds, and identical audio scores differently.
            self.cascade.reset()
        missing = self.window_samples - len(samples)
        padded = np.pad(samples, (0, missing)) if missing > 0 else samples
        frames_db = log_mel(padded, self.features)
        scores = []
        for first in window_starts(len(frames_db), self.windows):
            span = padded[first * self.features.hop_length :][: self.window_samples]
            window = frames_db[first : first + self.windows.window_frames]
            scores.append(self._score(window, first, span))
        return scores

    def heard(self, start_s: float, end_s: float) -> list[tuple[str, float]]:
        """What stage two heard between two stream times: the top AudioSet labels by mean score."""
        return top_labels(
            self.runs_between(start_s, end_s), self.class_names, self.explain_top_labels
        )

    def runs_between(self, start_s: float, end_s: float) -> list[BackboneRun]:
        """Stage two's runs whose window centre lies between two stream times (inclusive), of
        the last EXPLAIN_HISTORY kept to explain episodes: each with its cry score, class
        scores and embedding. Empty without stage two."""
        return [run for run in self._runs if start_s <= run.centre_s <= end_s]

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


def _load_stage_two(
    manifest: ModelManifest, small: WindowScorer, num_threads: int
) -> tuple[CascadeScorer, list[str]]:
    from models.cry.backbone import YamnetBackbone, read_class_names
    from models.cry.head import CryHead

    spec = manifest.cascade
    assert spec is not None
    spec.verify_files()
    backbone = YamnetBackbone(spec.backbone_path, num_threads=num_threads)
    head = CryHead.load(spec.head_path, spec.blend)
    window_s = (
        manifest.features.frame_length
        + (manifest.windows.window_frames - 1) * manifest.features.hop_length
    ) / manifest.features.sample_rate
    cascade = CascadeScorer(small, backbone, head, spec.gate, window_s)
    return cascade, read_class_names(spec.class_map_path)
