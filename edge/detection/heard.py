"""What the detector heard, made fit for the wire contract's ``Event.heard``.

The detector's labels come from its model (AudioSet class names); the contract bounds them (at
most ``MAX_HEARD_LABELS``, 1 to 64 characters, scores 0..1). An event the contract refuses
cannot be built, and a cry must never be lost because of what is only its explanation, so the
labels are fitted here instead: the best ones kept, long names shortened, scores clamped, and
labels nothing can show dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from models.contract import MAX_HEARD_LABELS, HeardLabel
from models.cry import HeardLabel as DetectorLabel

MAX_LABEL_CHARS = 64


def heard_for_event(heard: Sequence[DetectorLabel]) -> list[HeardLabel] | None:
    """The labels for an event, best first; None (the field left out) when there are none."""
    fitted = []
    for item in sorted(heard, key=lambda h: _score(h.score), reverse=True):
        label = _storable(item.label).strip()[:MAX_LABEL_CHARS].strip()
        if label:
            fitted.append(HeardLabel(label=label, score=_score(item.score)))
        if len(fitted) == MAX_HEARD_LABELS:
            break
    return fitted or None


def _score(value: float) -> float:
    return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)


def _storable(text: str) -> str:
    """Without what the contract refuses in text (NUL, unpaired surrogates)."""
    return text.replace("\x00", "").encode("utf-8", "ignore").decode("utf-8")
