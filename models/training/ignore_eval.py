"""Scoring a recurring night with and without one "not a cry" mark.

The detector's episodes do not depend on the ignore list (the device still tracks, records and
publishes an ignored episode; only its alarm is withheld), so a night is streamed once and every
mark and rule is then replayed over its episodes: the replay is exactly what the device decides.

The parent marks the first false alert of the recurring sound. From the end of that episode on,
each onset is checked with ``match_ignored`` (its onset fingerprint and confidence, as the
device has them at ``cry_started``) against what the device kept of the marked episode: its
onset fingerprint, its whole-episode fingerprint, or both (two entries for one mark). An
episode ignored at its onset still alerts if, before it ends, the detector's score reaches the
rule's ``must_alert_confidence`` - the device's "became a cry" (edge/ignored_episode.py), which
looks at the detector after every chunk; the replay looks at the same chunk peaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from models.cry.episodes import CryEvent
from models.cry.ignore import IgnoredSound, IgnoreRule, match_ignored
from models.training.recurring_night import RecurringNight, Span

FloatArray = npt.NDArray[np.float32]
Cause = Literal["cry", "recurring", "other"]
Kept = Literal["onset", "episode", "both"]
KEPT: tuple[Kept, ...] = ("onset", "episode", "both")
MATCH_TOLERANCE_S = 1.0  # as night_eval: a detection this close to a placement is caused by it
MARKED_AT = datetime(2026, 12, 7, tzinfo=UTC)  # any date: the rule does not look at it


@dataclass(frozen=True)
class HeardEpisode:
    """One episode the detector raised, what caused it, and what the device keeps of it."""

    start_s: float
    end_s: float
    confidence: float  # the onset's (what match_ignored sees at cry_started)
    onset: FloatArray | None
    whole: FloatArray | None
    cause: Cause
    # (stream time after a chunk, the highest window score in it) for every chunk from the
    # onset until the episode's end was sent: what the device watches while it is ignored.
    peaks: tuple[tuple[float, float], ...] = ()

    def became_a_cry_at(self, bound: float) -> float | None:
        """When the device would end this episode, ignored at its onset, and alert instead:
        after the first chunk whose highest score reaches ``bound``; None if none does."""
        return next((t for t, score in self.peaks if score >= bound), None)


def _overlaps(start: float, end: float, span: Span) -> bool:
    return start < span[1] + MATCH_TOLERANCE_S and span[0] - MATCH_TOLERANCE_S < end


def _cause(start: float, end: float, night: RecurringNight) -> Cause:
    if any(_overlaps(start, end, cry) for cry in night.night.cries):
        return "cry"
    if any(_overlaps(start, end, span) for span in night.recurring):
        return "recurring"
    return "other"


def heard_episodes(
    events: Sequence[CryEvent],
    night: RecurringNight,
    chunk_peaks: Sequence[tuple[float, float]] = (),
) -> list[HeardEpisode]:
    """Pair each ``cry_started`` with its ``cry_ended``, name the cause, and keep the chunk
    peaks (stream time, score; in time order) seen between the two being sent."""
    episodes: list[HeardEpisode] = []
    started: CryEvent | None = None
    for event in events:
        if event.kind == "cry_started":
            started = event
        elif started is not None:
            begun, ended = started.emitted_at_s, event.emitted_at_s
            episodes.append(
                HeardEpisode(
                    started.t,
                    event.t,
                    started.confidence,
                    started.fingerprint,
                    event.fingerprint,
                    _cause(started.t, event.t, night),
                    tuple(peak for peak in chunk_peaks if begun <= peak[0] < ended),
                )
            )
            started = None
    return episodes


@dataclass(frozen=True)
class MarkOutcome:
    """Counts after the mark (episodes starting after the marked one ended), without the
    list (every episode alerts) and with it (matched ones are ignored)."""

    marked_at_s: float | None  # None: the recurring sound never raised an alert
    recurring: int
    recurring_alerted: int
    cries: int  # true cry episodes placed after the mark
    cries_found: int  # ... that at least one episode overlapped (without the list)
    cries_found_with_mark: int  # ... that at least one alerted episode overlapped
    cry_episodes_ignored: int  # detector episodes on a cry that the mark silenced
    others: int
    others_alerted: int
    marks: int = 1  # how many episodes the parent marked
    # Cry episodes ignored at their onset that alerted later ("became a cry"): seconds from
    # the episode's start to that alert, one per episode.
    cry_alerts_late_s: tuple[float, ...] = ()

    @property
    def recurring_drop(self) -> float | None:
        return 1.0 - self.recurring_alerted / self.recurring if self.recurring else None

    @property
    def recall(self) -> float:
        return self.cries_found / self.cries if self.cries else 0.0

    @property
    def recall_with_mark(self) -> float:
        return self.cries_found_with_mark / self.cries if self.cries else 0.0


def marked_sounds(episode: HeardEpisode, kept: Kept) -> list[IgnoredSound]:
    """What the device's list holds for one marked episode."""
    vectors = {"onset": [episode.onset], "episode": [episode.whole]}.get(
        kept, [episode.onset, episode.whole]
    )
    return [IgnoredSound(0, MARKED_AT, vector) for vector in vectors if vector is not None]


def replay_mark(
    episodes: Sequence[HeardEpisode],
    cries: Sequence[Span],
    kept: Kept,
    rule: IgnoreRule,
) -> MarkOutcome:
    """The parent marks the first recurring false alert; replay the rest of the night."""
    first = next((e for e in episodes if e.cause == "recurring"), None)
    if first is None:
        return MarkOutcome(None, 0, 0, 0, 0, 0, 0, 0, 0, marks=0)
    sounds = marked_sounds(first, kept)
    after = [e for e in episodes if e.start_s > first.end_s]
    late = [_late_alert(e, sounds, rule) for e in after]
    alerted = [delay is not None for delay in late]
    return mark_outcome(first.end_s, after, alerted, cries, 1, _cry_delays(after, late))


def _late_alert(
    episode: HeardEpisode, sounds: Sequence[IgnoredSound], rule: IgnoreRule
) -> float | None:
    """None if the episode never alerts with the list; else seconds from its start to its
    alert: 0 when it alerts at its onset, later when it "became a cry"."""
    if match_ignored(episode.onset, episode.confidence, sounds, rule) is None:
        return 0.0
    promoted = episode.became_a_cry_at(rule.must_alert_confidence)
    return None if promoted is None else max(0.0, promoted - episode.start_s)


def _cry_delays(after: Sequence[HeardEpisode], late: Sequence[float | None]) -> tuple[float, ...]:
    return tuple(
        delay
        for e, delay in zip(after, late, strict=True)
        if e.cause == "cry" and delay is not None and delay > 0.0
    )


def replay_marking_every_alert(
    episodes: Sequence[HeardEpisode],
    cries: Sequence[Span],
    kept: Kept,
    rule: IgnoreRule,
) -> MarkOutcome:
    """A persistent parent: every false alert of the recurring sound that still alerts is
    marked too (the list grows, up to MAX_IGNORE_MARKS on a device), from the first one on."""
    first = next((e for e in episodes if e.cause == "recurring"), None)
    if first is None:
        return MarkOutcome(None, 0, 0, 0, 0, 0, 0, 0, 0, marks=0)
    sounds = marked_sounds(first, kept)
    after = [e for e in episodes if e.start_s > first.end_s]
    late: list[float | None] = []
    for e in after:
        late.append(_late_alert(e, sounds, rule))
        if late[-1] is not None and e.cause == "recurring":
            sounds += marked_sounds(e, kept)
    alerted = [delay is not None for delay in late]
    marks = 1 + sum(ok and e.cause == "recurring" for e, ok in zip(after, alerted, strict=True))
    return mark_outcome(first.end_s, after, alerted, cries, marks, _cry_delays(after, late))


def mark_outcome(
    marked_at_s: float,
    after: Sequence[HeardEpisode],
    alerted: Sequence[bool],
    cries: Sequence[Span],
    marks: int,
    cry_alerts_late_s: tuple[float, ...] = (),
) -> MarkOutcome:
    """The counts of a replay (``MarkOutcome``): ``after`` are the episodes that started after
    the marked one ended, ``alerted`` says for each whether it still alerted with the list
    (at its onset or later), and ``cries`` are where the night placed cries."""
    later_cries = [cry for cry in cries if cry[0] > marked_at_s]

    def found(cry: Span, with_mark: bool) -> bool:
        return any(
            _overlaps(e.start_s, e.end_s, cry) and (ok or not with_mark)
            for e, ok in zip(after, alerted, strict=True)
        )

    def count(cause: Cause, only_alerted: bool) -> int:
        return sum(
            e.cause == cause and (ok or not only_alerted)
            for e, ok in zip(after, alerted, strict=True)
        )

    return MarkOutcome(
        marked_at_s=marked_at_s,
        recurring=count("recurring", False),
        recurring_alerted=count("recurring", True),
        cries=len(later_cries),
        cries_found=sum(found(cry, False) for cry in later_cries),
        cries_found_with_mark=sum(found(cry, True) for cry in later_cries),
        cry_episodes_ignored=count("cry", False) - count("cry", True),
        others=count("other", False),
        others_alerted=count("other", True),
        marks=marks,
        cry_alerts_late_s=cry_alerts_late_s,
    )


@dataclass(frozen=True)
class Ceiling:
    """How much one mark could silence at best, after the fact, on one night.

    ``repeats``: the recurring sound's episodes after the mark; ``under_bound``: those whose
    score never reaches ``must_alert_confidence`` (onset or later), the only ones any
    fingerprint could silence; ``past_every_cry``: those of them more like the marked onset than
    every later cry episode the bound does not protect - what a similarity threshold set for
    this one home, knowing where its cries fall, would silence without costing a cry."""

    repeats: int
    under_bound: int
    past_every_cry: int


def ceiling(episodes: Sequence[HeardEpisode], must_alert_confidence: float) -> Ceiling | None:
    """The night's ``Ceiling`` with its first recurring alert marked (onset fingerprints);
    None when the recurring sound never raised an alert."""
    first = next((e for e in episodes if e.cause == "recurring"), None)
    if first is None or first.onset is None:
        return None
    marked = first.onset

    def unprotected(e: HeardEpisode) -> bool:
        return (
            e.onset is not None
            and e.confidence < must_alert_confidence
            and e.became_a_cry_at(must_alert_confidence) is None
        )

    def alike(e: HeardEpisode) -> float:
        assert e.onset is not None
        return float(np.dot(e.onset, marked))

    after = [e for e in episodes if e.start_s > first.end_s]
    repeats = [e for e in after if e.cause == "recurring"]
    silenceable = [e for e in repeats if unprotected(e)]
    bar = max((alike(e) for e in after if e.cause == "cry" and unprotected(e)), default=-1.0)
    return Ceiling(len(repeats), len(silenceable), sum(alike(e) > bar for e in silenceable))
