"""The home's "not a cry" rule: is a new episode like a sound the family marked?

The device keeps a short list of fingerprints (models/cry/fingerprint.py) of episodes a
caregiver marked "not a cry". At a new episode's onset, its fingerprint is compared with each;
when the closest is at least ``similarity`` alike, the episode is ignored (recorded, shown, no
alarm) - unless the detector is so sure it is a cry (``must_alert_confidence``) that no mark
may silence it. Both numbers are measured (tests/benchmarks/bench_not_a_cry.py) and the
reasons behind them are in docs/cry-detector.md.

Pure and shared: the edge agent uses it on the device and the benchmark on its nights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt

from models.cry.fingerprint import best_match
from models.cry.head import logit, sigmoid

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class IgnoreRule:
    """Defaults chosen on bench_not_a_cry's four tuning nights (validation-split cries, half of
    one baby's laughs, a cat of the train split, each on both beds; every night one home: one
    room, one microphone) and reported on its test nights (2026-12-07, docs/cry-detector.md
    "Not a cry"). Compare the new onset's fingerprint with the marked episode's *onset*
    fingerprint: against its whole-episode fingerprint, real cries come closer than the marked
    sound does and no threshold silences it without silencing cries."""

    # Cosine similarity from which a new episode counts as "the same sound". 0.93: the
    # threshold with the best drop among those that cost the tuning nights no more than half a
    # point of cry recall (it costs none); on the test nights one mark then silenced none of
    # the recurring sound's 46 later false alerts and no cry. Lower thresholds silence more of
    # the sound but cost cries (0.85: 19.6 % of it, -2.1 points on the test nights): with this
    # fingerprint one mark cannot reach the 90 % (docs/cry-detector.md says why and
    # what would).
    similarity: float = 0.93
    # An onset at least this confident alerts whatever it sounds like: nine in ten of the
    # recurring sounds' false alerts on the tuning nights start below it (90th percentile,
    # rounded up to 0.05), while 28 % of the test nights' cries start at or above it. When a
    # family marks a sound like crying it keeps some of the cries the mark would silence
    # (docs/cry-detector.md, the limit case). It is the model's score: re-measure it whenever
    # the model changes; at or under the onset threshold nothing could ever be ignored, so a
    # lowered cry sensitivity moves it up with the threshold (``at_onset_threshold``).
    must_alert_confidence: float = 0.60

    def __post_init__(self) -> None:
        if not 0.0 < self.similarity <= 1.0:
            raise ValueError("ignore.similarity must be within (0, 1]")
        if not 0.0 < self.must_alert_confidence <= 1.0:
            raise ValueError("ignore.must_alert_confidence must be within (0, 1]")

    def at_onset_threshold(self, calibrated: float, in_use: float) -> IgnoreRule:
        """This rule where the onset threshold in use is not the ``calibrated`` one (the
        parents moved the cry sensitivity; edge/detection/sensitivity.py moves the threshold in
        logit space). A raised threshold raises ``must_alert_confidence`` by the same number of
        logits, so the bound stays as far above the threshold in evidence as it was measured:
        at a low sensitivity whose threshold reaches 0.60 every onset would otherwise count as
        "sure" and no mark could silence anything. A lowered threshold leaves the measured
        bound as it is: the extra, less sure alerts of a high sensitivity are what a mark
        should be able to silence."""
        shift = max(0.0, float(logit(in_use)) - float(logit(calibrated)))
        if shift == 0.0 or self.must_alert_confidence >= 1.0:
            return self
        moved = float(sigmoid(float(logit(self.must_alert_confidence)) + shift))
        return replace(self, must_alert_confidence=min(1.0, moved))


@dataclass(frozen=True)
class IgnoredSound:
    """One entry of the list: the marked episode, when it was marked, its fingerprint."""

    episode_id: int
    marked_at: datetime
    # Not in repr: a log line or a traceback must never print a fingerprint's values.
    fingerprint: FloatArray = field(repr=False)


@dataclass(frozen=True)
class IgnoreMatch:
    """Why an episode is ignored: the entry it sounds like, and how alike they are."""

    sound: IgnoredSound
    similarity: float


def match_ignored(
    fingerprint: FloatArray | None,
    confidence: float,
    sounds: Sequence[IgnoredSound],
    rule: IgnoreRule,
) -> IgnoreMatch | None:
    """The entry that silences this onset, or None when it must alert (no fingerprint, no
    entry alike enough, or a confidence at or above ``rule.must_alert_confidence``)."""
    if fingerprint is None or not sounds or confidence >= rule.must_alert_confidence:
        return None
    found = best_match(fingerprint, [sound.fingerprint for sound in sounds])
    if found is None:
        return None
    index, alike = found
    if alike < rule.similarity or not np.isfinite(alike):
        return None
    return IgnoreMatch(sounds[index], alike)
