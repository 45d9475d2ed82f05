"""An episode the device did not alert on that turns into a cry it must alert on.

An onset that sounds like a sound the home marked "not a cry" is sent with ``ignored``
(edge/sounds_to_ignore.py) unless its score reaches the rule's ``must_alert_confidence``. But
the onset only says how the episode began: when the dog's whine wakes the baby, the detector
hears one episode that goes on, and without this the baby's cry would ring only once that
episode had ended and a new one started. So while an ignored episode is open the detector's
score is watched after every chunk; as soon as it reaches the bound, the ignored episode ends
(``end_reason`` "became_a_cry") and a new one starts without ``ignored``, which the cloud alarms
on like any cry. The detector's own end then closes the new episode.

And an ignored episode that ends lets the detector skip its cooldown: the cooldown spares a
parent a second alarm for the same fussing, and nobody was woken, so a cry right after it starts
an episode (checked against the list as usual) at once rather than up to ``cooldown_s`` later.

Audio thread only, like the detector.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from edge.detection import LiveDetector, TimedCryEvent
from models.cry import CryEvent
from models.cry.ignore import IgnoreRule

logger = logging.getLogger(__name__)

# The contract's ``end_reason`` of an ignored episode that turned into a cry (docs/protocol.md).
BECAME_A_CRY = "became_a_cry"


class IgnoredEpisodeWatch:
    def __init__(self, live: LiveDetector | None, rule: IgnoreRule) -> None:
        """``rule``: the rule onsets are checked with (models/cry/ignore.py); an ignored
        episode is watched with its must-alert bound at the sensitivity in use when it began,
        the bound its onset was checked against (LiveDetector.ignore_rule)."""
        self._live = live
        self._rule = rule
        self._bound = rule.must_alert_confidence
        self._ignored: TimedCryEvent | None = None  # the open ignored episode's start
        self._highest = 0.0  # the highest score it reached (below the bound)
        self._promoted: TimedCryEvent | None = None  # the start that replaced it

    def started(self, timed: TimedCryEvent, ignored: bool) -> None:
        """A ``cry_started`` was published (``ignored``: it carried ``ignored``)."""
        self._ignored = timed if ignored else None
        self._highest = timed.event.confidence
        rule = self._rule if self._live is None else self._live.ignore_rule(self._rule)
        self._bound = rule.must_alert_confidence
        if timed is not self._promoted:
            self._promoted = None

    def promotion(self) -> list[TimedCryEvent]:
        """After each chunk: the ignored episode's end and the new start, once the score
        reaches the bound; else nothing."""
        started = self._ignored
        if started is None or self._live is None:
            return []
        peak = self._live.take_peak()
        if peak is None:
            return []
        if peak.score < self._bound:
            self._highest = max(self._highest, peak.score)
            return []
        cry = self._live.onset_at(peak)
        logger.info("the ignored sound became a cry (score %.2f): alerting", peak.score)
        ended = CryEvent(
            "cry_ended",
            cry.event.t,
            cry.event.emitted_at_s,
            self._highest,
            started.event.level_dbfs,
            duration_s=max(0.0, cry.event.t - started.event.t),
            heard=started.event.heard,
        )
        self._ignored, self._promoted = None, cry
        return [TimedCryEvent(ended, cry.occurred_at, end_reason=BECAME_A_CRY), cry]

    def ended(self, timed: TimedCryEvent) -> TimedCryEvent:
        """A ``cry_ended`` about to be published, as it must be: the detector's end of a
        promoted episode lasts from the promotion, not from the ignored onset."""
        if timed.end_reason is not None:
            return timed  # ours (became_a_cry), already as it must be
        if self._ignored is not None and self._live is not None:
            self._live.skip_cooldown()
        self._ignored = None
        promoted, self._promoted = self._promoted, None
        if promoted is None:
            return timed
        duration = max(0.0, timed.event.t - promoted.event.t)
        return replace(timed, event=replace(timed.event, duration_s=duration))
