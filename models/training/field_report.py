"""Scoring renditions through the product's detector and reporting by category and condition."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.cry.detector import CryDetector
from models.training.metrics import roc_auc
from models.training.renditions import RATE, Rendition, is_laughter

# The families of non-cries, by the categories our renditions carry.
FAMILIES: dict[str, tuple[str, ...]] = {
    "household (claps, knocks, coughs, alarms, laughter)": (
        "household:claps",
        "household:knocks",
        "household:cough",
        "household:alarm",
        "laughter",
    ),
    "animals (ESC-50 cats, dogs)": ("esc50:cat", "esc50:dog"),
    "other indoor (speech, doors, keys, phone, music, footsteps)": (
        "speech_commands",
        "spoken_digits",
        "household:door",
        "household:keys",
        "household:phone",
        "household:music",
        "household:footsteps",
    ),
    "noise beds alone (noise machines, fans, hum, ambience)": ("bed",),
    # Real recordings from Debian's media (`nursery-model fetch-sounds`), kept apart so that
    # the families above mean what they meant before that data existed.
    "recorded animals (Debian media: cats, dogs, birds, farm animals)": (
        "recorded_cat",
        "recorded_animal",
    ),
    "recorded voices and things (Debian media: coughs, sneezes, screams, pain, appliances)": (
        "recorded_voice",
        "recorded_household",
    ),
    "other ESC-50 (sirens, horns, bells, glass, snoring)": (
        "esc50:siren",
        "esc50:car_horn",
        "esc50:church_bells",
        "esc50:glass_breaking",
        "esc50:snoring",
    ),
}


@dataclass(frozen=True)
class Scored:
    rendition: Rendition
    score: float


def category(rendition: Rendition) -> str:
    """A rendition's kind of sound: its source, refined where the source mixes kinds."""
    source = rendition.source
    if source.startswith("bed:"):
        return "bed"
    parts = rendition.clip.split("/")
    if source == "esc50" and len(parts) > 2:
        return f"esc50:{parts[2]}"
    if is_laughter(rendition.clip, rendition.is_cry):
        return "laughter"
    if source == "home_recordings" and len(parts) > 2:
        return f"home:{parts[2]}"
    return source.split(" (")[0]


def snr_of(rendition: Rendition) -> str:
    head = rendition.condition.split(",")[0]
    return head.split(" ", 1)[1] if " dB" in head else "clean"


def score_renditions(
    detector: CryDetector,
    renditions: Iterable[Rendition],
    progress: Callable[[int], None] | None = None,
) -> list[Scored]:
    scored = []
    for index, rendition in enumerate(renditions):
        scored.append(Scored(rendition, detector.analyze(rendition.audio, RATE).max_score))
        if progress is not None and index % 250 == 0:
            progress(index)
    return scored


def _rate(flags: Sequence[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None


def field_report(scored: Sequence[Scored], threshold: float) -> dict[str, Any]:
    labels = [s.rendition.is_cry for s in scored]
    scores = [s.score for s in scored]
    hits = [score >= threshold for score in scores]
    tp = sum(h and y for h, y in zip(hits, labels, strict=True))
    fp = sum(h and not y for h, y in zip(hits, labels, strict=True))
    fn = sum(not h and y for h, y in zip(hits, labels, strict=True))
    by_category: dict[str, list[bool]] = defaultdict(list)
    recall_by_snr: dict[str, list[bool]] = defaultdict(list)
    recall_by_source: dict[str, list[bool]] = defaultdict(list)
    recall_by_kind: dict[str, list[bool]] = defaultdict(list)
    for item, hit in zip(scored, hits, strict=True):
        rendition = item.rendition
        if rendition.is_cry:
            recall_by_snr[snr_of(rendition)].append(hit)
            recall_by_source[rendition.source].append(hit)
            recall_by_kind[rendition.condition.split(" ")[0].rstrip(",")].append(hit)
        else:
            by_category[category(rendition)].append(hit)
    families = {}
    for family, members in FAMILIES.items():
        flags = [hit for name in members for hit in by_category.get(name, [])]
        families[family] = {"clips": len(flags), "false_positive_rate": _rate(flags)}
    return {
        "threshold": threshold,
        "renditions": len(scored),
        "cries": sum(labels),
        "roc_auc": roc_auc(labels, scores),
        "f1": round(2 * tp / (2 * tp + fp + fn), 4) if tp + fp + fn else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "false_positive_rate_by_family": families,
        "false_positive_rate_by_category": {
            name: {"clips": len(flags), "rate": _rate(flags)}
            for name, flags in sorted(by_category.items())
        },
        "cry_recall_by_snr": {
            name: {"clips": len(flags), "recall": _rate(flags)}
            for name, flags in sorted(recall_by_snr.items(), key=lambda kv: _snr_key(kv[0]))
        },
        "cry_recall_by_noise": {
            name: {"clips": len(flags), "recall": _rate(flags)}
            for name, flags in sorted(recall_by_kind.items())
        },
        "cry_recall_by_source": {
            name: {"clips": len(flags), "recall": _rate(flags)}
            for name, flags in sorted(recall_by_source.items())
        },
    }


def _snr_key(name: str) -> float:
    return float("inf") if name == "clean" else -float(name.split(" ")[0])
