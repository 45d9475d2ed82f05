"""The loud-sound fallback: a sustained loud sound is reported even when the model hears no cry.

A cry under a fan or a white-noise machine can score below the model's threshold; the level
cannot hide. The same 100 ms block levels the sound level meter reports are compared with
``loud_sound_dbfs``; one ``loud_sound`` event is due when the last ``loud_sound_s`` seconds were
loud, judged like this:

- A *spell* starts when, over the last ``loud_sound_s`` seconds, at least two blocks in three
  (``START_FRACTION``) were above the level, the oldest and the newest among them: the sound
  has been loud from its onset (that oldest block) for ``loud_sound_s`` and still is. Dips in
  between are tolerated because sustained sounds have them: in the loudest 5 s of each real cry
  recording of the training data (donateacry, ESC-50, home recordings) the median share of
  blocks within 10 dB of the cry's loud level is 62-77 %, the rest are breaths; "80 % loud"
  would count only about a quarter of those recordings as sustained, two in three about half.
- The spell ends once fewer than one block in three (``END_FRACTION``) of the last
  ``loud_sound_s`` seconds was loud: the room has been mostly quiet for a while. The gap
  between the two fractions keeps a level hovering at the threshold from starting spell after
  spell.
- Each spell is reported once, when it starts, with its onset, its median loud level and how
  long it has been loud. After a reported spell ends, the next spell is reported only once
  ``max(cry_cooldown_s, MIN_COOLDOWN_S)`` has passed (a spell still going on then is reported
  at that moment, with its true onset): a noise that comes and goes alarms at most once a
  minute, while a loud sound that starts soon after another is still reported.

Runs on the audio thread; settings arrive from the MQTT thread and are picked up before the
next chunk, like ``LiveDetector``'s.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from edge.detection.level import BlockLevelSplitter
from models.contract import DeviceSettings

logger = logging.getLogger(__name__)

START_FRACTION = 2 / 3
END_FRACTION = 1 / 3
# A loud sound is no news a few seconds after the last one; the parents' cry cooldown applies
# when it is longer.
MIN_COOLDOWN_S = 60.0


@dataclass(frozen=True, slots=True)
class LoudSound:
    """A loud spell as reported: stream seconds since the detector's first block."""

    onset_s: float  # start of the spell's first loud block
    detected_s: float  # end of the block that made it a reportable spell
    level_dbfs: float  # median level of the loud blocks of the last ``loud_sound_s``

    @property
    def duration_s(self) -> float:
        """How long the sound had been loud when it was reported."""
        return self.detected_s - self.onset_s


@dataclass(frozen=True, slots=True)
class TimedLoudSound:
    sound: LoudSound
    # Wall-clock time of ``sound.onset_s``.
    occurred_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LoudSoundDetector:
    def __init__(
        self,
        settings: DeviceSettings,
        sample_rate: int,
        *,
        block_s: float = 0.1,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._splitter = BlockLevelSplitter(sample_rate, block_s)
        self._block_s = self._splitter.block_s
        self._wall_clock = wall_clock
        self._blocks = 0  # blocks seen since start, enabled or not: the stream clock
        self._levels: deque[float] = deque()
        self._loud = 0  # blocks in ``_levels`` above the threshold
        self._spell_onset_s: float | None = None
        self._spell_reported = False
        self._quiet_since_s: float | None = None  # end of the last reported spell
        self._pending_settings: DeviceSettings | None = None
        self._settings_lock = threading.Lock()
        self._enabled = False
        self._threshold = settings.loud_sound_dbfs
        self._cooldown_s = MIN_COOLDOWN_S
        self._apply(settings)

    @property
    def stream_time_s(self) -> float:
        return self._blocks * self._block_s

    def update_settings(self, settings: DeviceSettings) -> None:
        """Called from any thread; takes effect before the next chunk."""
        with self._settings_lock:
            self._pending_settings = settings

    def process(self, samples: npt.NDArray[np.float32]) -> list[TimedLoudSound]:
        """Feed one chunk (mono float32); a loud sound is returned the moment it is due."""
        with self._settings_lock:
            settings, self._pending_settings = self._pending_settings, None
        if settings is not None:
            self._apply(settings)
        sounds = self.feed_levels(self._splitter.add(samples))
        if not sounds:
            return []
        now, stream_now = self._wall_clock(), self.stream_time_s
        return [
            TimedLoudSound(sound, now - timedelta(seconds=stream_now - sound.onset_s))
            for sound in sounds
        ]

    def feed_levels(self, levels: Iterable[float]) -> list[LoudSound]:
        """Feed block levels (dBFS, one per ``block_s``) directly; the pure core of ``process``."""
        sounds = []
        for level in levels:
            self._blocks += 1
            if self._enabled:
                sound = self._step(level)
                if sound is not None:
                    sounds.append(sound)
        return sounds

    def _step(self, level: float) -> LoudSound | None:
        window = self._levels
        if window.maxlen is not None and len(window) == window.maxlen:
            self._loud -= window.popleft() > self._threshold
        window.append(level)
        self._loud += level > self._threshold
        now_s = self.stream_time_s
        full = len(window) == window.maxlen
        if self._spell_onset_s is None:
            if (
                full
                and window[0] > self._threshold
                and window[-1] > self._threshold
                and self._loud >= START_FRACTION * len(window)
            ):
                self._spell_onset_s = now_s - len(window) * self._block_s
                self._spell_reported = False
        elif self._loud < END_FRACTION * len(window):
            self._end_spell(now_s)
        if self._spell_onset_s is None or self._spell_reported:
            return None
        # (The epsilon keeps float sums of 0.1 s blocks from ending the cooldown a block late.)
        if (
            self._quiet_since_s is not None
            and now_s - self._quiet_since_s < self._cooldown_s - 1e-6
        ):
            return None
        self._spell_reported = True
        loud_levels = [value for value in window if value > self._threshold]
        sound = LoudSound(self._spell_onset_s, now_s, statistics.median(loud_levels))
        logger.info(
            "loud sound: %.1f dBFS for %.1f s (threshold %.1f dBFS)",
            sound.level_dbfs,
            sound.duration_s,
            self._threshold,
        )
        return sound

    def _end_spell(self, now_s: float) -> None:
        if self._spell_reported:
            self._quiet_since_s = now_s
        self._spell_onset_s = None
        self._spell_reported = False

    def _apply(self, settings: DeviceSettings) -> None:
        self._cooldown_s = max(settings.cry_cooldown_s, MIN_COOLDOWN_S)
        if not settings.loud_sound_enabled:
            if self._enabled:
                self._end_spell(self.stream_time_s)
                self._levels.clear()
                self._loud = 0
                logger.info("loud-sound fallback off")
            self._enabled = False
            return
        window = max(1, round(settings.loud_sound_s / self._block_s))
        changed = (
            not self._enabled
            or window != self._levels.maxlen
            or settings.loud_sound_dbfs != self._threshold
        )
        # The levels heard so far are kept: a lower threshold or a shorter duration applies to
        # the sound that is going on now, not only to the next one.
        self._levels = deque(self._levels, maxlen=window)
        self._threshold = settings.loud_sound_dbfs
        self._loud = sum(value > self._threshold for value in self._levels)
        if changed:
            logger.info(
                "loud-sound fallback on: above %.1f dBFS for %.1f s",
                self._threshold,
                window * self._block_s,
            )
        self._enabled = True
