"""Event-level scoring of a detector on a synthesized night: recall, false alerts, latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from models.cry.detector import CryDetector
from models.cry.episodes import CryEvent, Episode, episodes_from_events
from models.training.night import Night

STREAM_CHUNK_S = 1.0  # the chunking does not change results; 1 s keeps Python overhead low
MATCH_TOLERANCE_S = 1.0  # a detection this close to a true cry counts as that cry


@dataclass(frozen=True)
class NightMetrics:
    hours: float
    non_cry_hours: float
    episodes: int
    detected: int
    episode_recall: float
    false_alerts: int
    false_alerts_per_hour: float
    median_onset_latency_s: float | None
    p90_onset_latency_s: float | None
    seed: int = 0
    cry_split: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stream_events(
    detector: CryDetector,
    night: Night,
    progress: Callable[[float], None] | None = None,
    after_chunk: Callable[[float], None] | None = None,
) -> list[CryEvent]:
    """Feed the night through the streaming (daemon) path. ``after_chunk`` is called with the
    stream time after every chunk, where the agent looks at the detector between chunks."""
    detector.reset()
    chunk = int(STREAM_CHUNK_S * night.sample_rate)
    events: list[CryEvent] = []
    for index, start in enumerate(range(0, len(night.audio), chunk)):
        events += detector.feed(night.audio[start : start + chunk])
        if after_chunk is not None:
            after_chunk(detector.stream_time_s)
        if progress is not None and index % 600 == 0:
            progress(start / len(night.audio))
    return events + detector.finish()


def _overlaps(episode: Episode, cry: tuple[float, float]) -> bool:
    start, end = cry
    return episode.start_s < end + MATCH_TOLERANCE_S and start - MATCH_TOLERANCE_S < episode.end_s


def score_night(night: Night, events: list[CryEvent], seed: int, cry_split: str) -> NightMetrics:
    detected = episodes_from_events(events)
    latencies = []
    for cry in night.cries:
        hits = [episode for episode in detected if _overlaps(episode, cry)]
        if hits:
            latencies.append(max(0.0, min(h.detected_at_s for h in hits) - cry[0]))
    false_alerts = sum(not any(_overlaps(e, cry) for cry in night.cries) for e in detected)
    non_cry_hours = night.hours - night.cry_hours
    return NightMetrics(
        hours=night.hours,
        non_cry_hours=non_cry_hours,
        episodes=len(night.cries),
        detected=len(latencies),
        episode_recall=len(latencies) / len(night.cries) if night.cries else 0.0,
        false_alerts=false_alerts,
        false_alerts_per_hour=false_alerts / non_cry_hours if non_cry_hours > 0 else 0.0,
        median_onset_latency_s=float(np.median(latencies)) if latencies else None,
        p90_onset_latency_s=float(np.percentile(latencies, 90)) if latencies else None,
        seed=seed,
        cry_split=cry_split,
    )
