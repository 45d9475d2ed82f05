"""The home's "not a cry" list on the device: kept, applied, matched against new onsets.

Two threads meet here. The MQTT thread applies the cloud's list (``ignore/desired``) and the
audio thread asks, at every ``cry_started``, whether the onset sounds like a marked episode.
The list the audio thread reads is one immutable snapshot, replaced whole by the MQTT thread
(a reference assignment is atomic), so a match never sees half a list and never waits for a
database write. The audio thread also remembers each episode's fingerprints in the store, so a
later mark of that episode has a sound to ignore.

Nothing here may cost a cry: a failing store is logged and the onset alerts as usual. Nor may
it cost a parent's Undo: a list that cannot be saved is applied from RAM all the same, the
``sound_memory`` fault is raised, and saving is retried at the next episode or list.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from edge.detection.sound_memory import (
    NO_REVISION,
    IgnoreListRecord,
    SoundMemory,
    StoredMark,
    newest_marks,
    open_sound_memory,
)
from models.contract import IgnoredBecause, IgnoreList, IgnoreMark
from models.cry import CryEvent
from models.cry.ignore import IgnoredSound, IgnoreMatch, IgnoreRule, match_ignored

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IgnoreListStatus:
    """What the device status says about the list (``Status.ignore_list_*``)."""

    size: int  # fingerprints in use (marks known to this device and its current model)
    changed_at: datetime | None
    revision: int | None  # the ``ignore/desired`` revision applied; None before the first
    unknown: list[int] = field(default_factory=list)  # marked ids without a usable fingerprint


@dataclass(frozen=True, slots=True)
class _Snapshot:
    sounds: tuple[IgnoredSound, ...]
    status: IgnoreListStatus


def snapshot_of(
    record: IgnoreListRecord, model: str | None
) -> tuple[tuple[IgnoredSound, ...], IgnoreListStatus]:
    """The sounds ``model`` can compare (marks with a fingerprint of that same model), and the
    status: the rest of the marks are unknown (too old, not this device's cry, or another
    model's fingerprint)."""
    sounds = tuple(
        IgnoredSound(mark.episode_id, mark.marked_at, mark.fingerprint)
        for mark in record.marks
        if model is not None and mark.model == model and mark.fingerprint is not None
    )
    usable = {sound.episode_id for sound in sounds}
    return sounds, IgnoreListStatus(
        size=len(sounds),
        changed_at=record.changed_at,
        revision=None if record.revision == NO_REVISION else record.revision,
        unknown=[mark.episode_id for mark in record.marks if mark.episode_id not in usable],
    )


class SoundsToIgnore:
    def __init__(
        self,
        memory: SoundMemory,
        model: str | None,
        on_changed: Callable[[], None],
        rule: IgnoreRule | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``model``: the detector's ``fingerprint_model`` (None without stage two: nothing is
        remembered or ignored). ``on_changed`` runs after a new list was applied (the daemon
        publishes a status)."""
        self._memory = memory
        self._model = model
        self._on_changed = on_changed
        self._rule = rule or IgnoreRule()
        self._clock = clock
        # Set by ``open``: what went wrong with the file (local status), and the fault the
        # device reports while nothing it learns can survive a restart.
        self.problem: str | None = None
        self._volatile_fault: str | None = None
        # The last write that failed (cleared by the next one that works), and the applied
        # list not saved yet with its change time: both part of the ``sound_memory`` fault.
        self._write_problem: str | None = None
        self._unsaved: tuple[IgnoreList, datetime] | None = None
        self._apply_lock = threading.Lock()
        self._snapshot = self._load()

    @property
    def fault(self) -> str | None:
        """The ``sound_memory`` fault's sentence, None when all is well."""
        return self._volatile_fault or self._write_problem

    @classmethod
    def open(
        cls, path: Path | None, model: str | None, on_changed: Callable[[], None]
    ) -> SoundsToIgnore:
        """The list kept at ``path`` (in RAM when None: tests, or a device without a state
        folder); a damaged file is replaced by an empty one, never an error."""
        if path is None:
            return cls(SoundMemory(None), model, on_changed)
        opened = open_sound_memory(path)
        sounds = cls(opened.memory, model, on_changed)
        sounds.problem = opened.problem
        if opened.volatile:
            sounds._volatile_fault = (
                f"the sounds to ignore are kept in memory only: {opened.problem}"
            )
        return sounds

    def close(self) -> None:
        self._memory.close()

    def _load(self) -> _Snapshot:
        try:
            record = self._memory.ignore_list()
        except sqlite3.Error as exc:
            logger.error("cannot read the sounds to ignore: %s; ignoring none", exc)
            self._write_problem = f"cannot read the sounds to ignore: {exc}"
            record = IgnoreListRecord(NO_REVISION, None, ())
        if self._model is not None and any(
            mark.fingerprint is None or mark.model != self._model for mark in record.marks
        ):
            # A list applied while stage two was down (or before a model update) is matched
            # again with what this model remembered: same revision, same marks.
            try:
                record = self._memory.replace_ignore_list(
                    record.revision,
                    [
                        IgnoreMark(episode_id=m.episode_id, marked_at=m.marked_at)
                        for m in record.marks
                    ],
                    self._model,
                    record.changed_at or self._clock(),
                )
            except sqlite3.Error as exc:
                # Keep the list as read: its marks of this model still work, and its revision
                # keeps the device from taking an older list for a newer one.
                logger.error("cannot match the sounds to ignore again: %s; using them as kept", exc)
                self._write_problem = f"cannot match the sounds to ignore again: {exc}"
        return _Snapshot(*snapshot_of(record, self._model))

    def status(self) -> IgnoreListStatus:
        return self._snapshot.status

    @property
    def rule(self) -> IgnoreRule:
        """The rule onsets are checked with (edge/ignored_episode.py watches with its bound)."""
        return self._rule

    def local_status(self) -> dict[str, object]:
        """The list in ``nursery-edge status`` (edge/cli/status.py), with a damaged file's
        story."""
        status = self.status()
        return {
            "size": status.size,
            "revision": status.revision,
            "changed_at": status.changed_at.isoformat() if status.changed_at else None,
            "unknown": status.unknown,
            "problem": self.problem,
        }

    # ---- the audio thread ----

    def check(self, event: CryEvent, rule: IgnoreRule | None = None) -> IgnoreMatch | None:
        """The marked sound this onset is like, if it must not alert (models/cry/ignore.py);
        ``rule``: this list's rule as it applies now (default: as measured), e.g. at the cry
        sensitivity in use (LiveDetector.ignore_rule)."""
        sounds = self._snapshot.sounds  # one read: the MQTT thread may swap it meanwhile
        try:
            return match_ignored(event.fingerprint, event.confidence, sounds, rule or self._rule)
        except (ValueError, FloatingPointError) as exc:
            logger.error("cannot compare the onset with the sounds to ignore: %s", exc)
            return None

    def remember(self, episode_id: int, event: CryEvent, at: datetime) -> None:
        """Keep the event's fingerprint under its episode: a start's onset, an end's whole
        episode."""
        model, fingerprint = self._model, event.fingerprint
        if event.kind not in ("cry_started", "cry_ended"):
            return
        if event.kind == "cry_ended" and (model is None or fingerprint is None):
            return
        saved = self._save_unsaved()
        try:
            if model is None or fingerprint is None:
                # A start without a fingerprint. Ids restart at 0 when the state folder is
                # wiped: whatever an older episode left under this id is another sound.
                self._memory.forget(episode_id)
            elif event.kind == "cry_started":
                self._memory.remember_onset(episode_id, at, model, fingerprint)
            else:
                self._memory.remember_episode(episode_id, at, model, fingerprint)
        except sqlite3.Error as exc:
            logger.error("cannot remember episode %d's sound: %s", episode_id, exc)
            self._write_problem = f"cannot remember the sounds it hears: {exc}"
            return
        if saved:
            self._write_problem = None

    # ---- the MQTT thread ----

    def handle(self, desired: IgnoreList) -> None:
        """Apply a list from the cloud, if it is newer than the one applied."""
        self._save_unsaved()  # an older list not saved yet: the retained copy comes again
        with self._apply_lock:
            # The applied revision is the snapshot's: a list not saved yet was applied too.
            applied = self._snapshot.status.revision
            applied = NO_REVISION if applied is None else applied
            if desired.seq == applied:
                return  # the retained copy, redelivered after a reconnect
            if desired.seq < applied:
                logger.warning(
                    "ignoring the sounds-to-ignore revision %d: already at %d",
                    desired.seq,
                    applied,
                )
                return
            changed_at = self._clock()
            try:
                record = self._memory.replace_ignore_list(
                    desired.seq, desired.marks, self._model, changed_at
                )
                self._unsaved = None
                self._write_problem = None
            except sqlite3.Error as exc:
                # Applied all the same (an Undo must take effect now), saved later.
                logger.error(
                    "cannot save the sounds-to-ignore revision %d: %s; applied from memory,"
                    " saving again later",
                    desired.seq,
                    exc,
                )
                record = self._record_in_ram(desired, changed_at)
                self._unsaved = (desired, changed_at)
                self._write_problem = f"cannot save the sounds to ignore: {exc}"
            self._snapshot = _Snapshot(*snapshot_of(record, self._model))
        status = self._snapshot.status
        logger.info(
            "applied the sounds-to-ignore revision %d: %d in use%s",
            desired.seq,
            status.size,
            f", no fingerprint for episode(s) {status.unknown}" if status.unknown else "",
        )
        self._on_changed()

    # ---- when saving failed ----

    def _record_in_ram(self, desired: IgnoreList, changed_at: datetime) -> IgnoreListRecord:
        """The list as ``replace_ignore_list`` would store it, from what is known in RAM (the
        applied list's fingerprints) and, if the file can still be read, the remembered
        episodes."""
        known = {sound.episode_id: sound.fingerprint for sound in self._snapshot.sounds}
        marks = []
        for mark in newest_marks(desired.marks):
            fingerprint = known.get(mark.episode_id)
            if fingerprint is None and self._model is not None:
                try:
                    fingerprint = self._memory.remembered(
                        mark.episode_id, self._model, mark.marked_at
                    )
                except sqlite3.Error:
                    fingerprint = None
            model = None if fingerprint is None else self._model
            marks.append(StoredMark(mark.episode_id, mark.marked_at, model, fingerprint))
        return IgnoreListRecord(desired.seq, changed_at, tuple(marks))

    def _save_unsaved(self) -> bool:
        """Save the applied list if an earlier save failed; False when it fails again."""
        with self._apply_lock:
            if self._unsaved is None:
                return True
            desired, changed_at = self._unsaved
            try:
                record = self._memory.replace_ignore_list(
                    desired.seq, desired.marks, self._model, changed_at
                )
            except sqlite3.Error as exc:
                logger.warning("still cannot save the sounds to ignore: %s", exc)
                return False
            self._unsaved = None
            self._write_problem = None
            self._snapshot = _Snapshot(*snapshot_of(record, self._model))
        logger.info("saved the sounds-to-ignore revision %d", desired.seq)
        return True


def log_not_alerted(ignored: IgnoredBecause, confidence: float) -> None:
    logger.info(
        "cry-like sound not alerted: like episode %d marked on %s (similarity %.2f, "
        "confidence %.2f)",
        ignored.like_episode_id,
        ignored.marked_at.date().isoformat(),
        ignored.similarity,
        confidence,
    )


def ignored_because(match: IgnoreMatch | None) -> IgnoredBecause | None:
    """The event's ``ignored`` field for a match."""
    if match is None:
        return None
    return IgnoredBecause(
        like_episode_id=match.sound.episode_id,
        marked_at=match.sound.marked_at,
        similarity=round(min(max(match.similarity, 0.0), 1.0), 3),
    )
