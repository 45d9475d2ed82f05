"""Applying the cloud's "not a cry" list on the device and matching new onsets against it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.detection import sound_memory
from edge.detection.sound_memory import SoundMemory
from edge.sounds_to_ignore import SoundsToIgnore, ignored_because
from models.contract import IgnoredBecause, IgnoreList
from models.cry import CryEvent
from models.cry.ignore import IgnoreRule
from tests.harness.sounds import MODEL, OTHER_MODEL, ended, ignore_list, onset, vector
from tests.harness.sqlite import WriteLock

DEVICE = "unit-ignore"
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
RULE = IgnoreRule(similarity=0.85, must_alert_confidence=0.97)


def marks(revision: int, *episode_ids: int) -> IgnoreList:
    """The cloud's list: the marks a minute apart, the last one newest."""
    return ignore_list(DEVICE, revision, *episode_ids, marked_at=T0, apart=timedelta(minutes=1))


class Changes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def sounds_at(path: Path, model: str | None = MODEL) -> tuple[SoundsToIgnore, Changes]:
    changes = Changes()
    sounds = SoundsToIgnore(SoundMemory(path), model, changes, RULE, clock=lambda: T0)
    return sounds, changes


def test_a_marked_episode_silences_a_later_onset_like_it_and_only_that(tmp_path: Path) -> None:
    sounds, changes = sounds_at(tmp_path / "m.sqlite3")
    sounds.remember(5, onset(1), T0)
    sounds.remember(5, ended(1), T0)
    sounds.remember(6, onset(2), T0)
    assert sounds.check(onset(1)) is None  # nothing marked yet

    sounds.handle(marks(1, 5))
    assert changes.count == 1
    match = sounds.check(onset(1))
    assert match is not None
    assert match.sound.episode_id == 5
    assert ignored_because(match) == IgnoredBecause(like_episode_id=5, marked_at=T0, similarity=1.0)
    assert sounds.check(onset(2)) is None  # another sound alerts
    assert sounds.check(onset(1, confidence=0.99)) is None  # too sure to be silenced
    status = sounds.status()
    assert (status.size, status.revision, status.changed_at, status.unknown) == (1, 1, T0, [])


def test_only_a_newer_revision_is_applied(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sounds, changes = sounds_at(tmp_path / "m.sqlite3")
    sounds.remember(5, onset(1), T0)
    sounds.handle(marks(3, 5))
    sounds.handle(marks(3))  # the retained copy again: nothing to do
    assert sounds.status().size == 1
    with caplog.at_level(logging.WARNING):
        sounds.handle(marks(2))
    assert "already at 3" in caplog.text
    assert sounds.status().size == 1
    assert changes.count == 1
    sounds.handle(marks(4))  # undo: a shorter list
    assert sounds.status().size == 0
    assert sounds.check(onset(1)) is None
    assert changes.count == 2


def test_marks_without_a_fingerprint_of_this_model_are_reported_unknown(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    memory = SoundMemory(path)
    memory.remember_onset(5, T0, OTHER_MODEL, vector(1))
    memory.remember_onset(6, T0, MODEL, vector(2))
    memory.close()
    sounds, _ = sounds_at(path)
    sounds.handle(marks(1, 5, 6, 77))
    status = sounds.status()
    assert status.size == 1
    assert sorted(status.unknown) == [5, 77]
    assert sounds.check(onset(1)) is None  # the other model's sound is never compared
    assert sounds.check(onset(2)) is not None


def test_the_list_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    sounds, _ = sounds_at(path)
    sounds.remember(5, onset(1), T0)
    sounds.handle(marks(2, 5))
    sounds.close()
    again, changes = sounds_at(path)
    assert again.status().revision == 2
    match = again.check(onset(1))
    assert match is not None
    assert match.sound.episode_id == 5
    again.handle(marks(2, 5))  # the broker's retained copy after the restart
    assert changes.count == 0


def test_a_model_update_makes_the_old_marks_unknown(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    sounds, _ = sounds_at(path)
    sounds.remember(5, onset(1), T0)
    sounds.handle(marks(1, 5))
    sounds.close()
    updated, _ = sounds_at(path, model=OTHER_MODEL)
    assert updated.status().size == 0
    assert updated.status().unknown == [5]
    assert updated.check(onset(1)) is None
    without_stage_two, _ = sounds_at(path, model=None)
    assert without_stage_two.status().unknown == [5]
    without_stage_two.remember(9, onset(3), T0)  # nothing to remember without a model


def test_a_list_applied_while_stage_two_was_down_is_matched_when_it_is_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.sqlite3"
    sounds, _ = sounds_at(path)
    sounds.remember(5, onset(1), T0)
    sounds.close()
    degraded, _ = sounds_at(path, model=None)
    degraded.handle(marks(1, 5))
    assert degraded.status().unknown == [5]
    degraded.close()
    back, _ = sounds_at(path)
    assert (back.status().size, back.status().revision, back.status().unknown) == (1, 1, [])
    assert back.status().changed_at == T0
    assert back.check(onset(1)) is not None


def test_a_damaged_file_starts_empty_and_the_device_still_alerts(tmp_path: Path) -> None:
    path = tmp_path / "sound-memory.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    sounds = SoundsToIgnore.open(path, MODEL, Changes())
    assert sounds.problem is not None
    assert sounds.fault is None  # a new file works: nothing left to fix
    assert sounds.status().revision is None
    assert sounds.check(onset(1)) is None
    sounds.remember(5, onset(1), T0)
    sounds.handle(marks(1, 5))
    assert sounds.status().size == 1


@pytest.fixture
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A locked file answers "database is locked" within milliseconds, not a second."""
    monkeypatch.setattr(sound_memory, "OPEN_BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(sound_memory, "WRITE_BUSY_TIMEOUT_MS", 20)


@pytest.mark.usefixtures("short_waits")
def test_an_undo_takes_effect_even_when_it_cannot_be_saved_and_is_saved_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.sqlite3"
    sounds, changes = sounds_at(path)
    sounds.remember(5, onset(1), T0)
    sounds.handle(marks(1, 5))
    assert sounds.check(onset(1)) is not None

    lock = WriteLock(path)
    with caplog.at_level(logging.ERROR):
        sounds.handle(marks(2))  # the parent's Undo: an empty list
    assert "cannot save the sounds-to-ignore revision 2" in caplog.text
    assert sounds.check(onset(1)) is None  # undone now, not after the disk recovers
    assert (sounds.status().revision, sounds.status().size) == (2, 0)
    assert changes.count == 1 + 1  # a status goes out with the new list
    assert sounds.fault is not None
    assert "locked" in sounds.fault
    sounds.handle(marks(2))  # the retained copy again, still locked: nothing changes
    assert changes.count == 2
    assert sounds.fault is not None

    lock.release()
    sounds.remember(6, onset(2), T0)  # the next episode saves the list too
    assert sounds.fault is None
    sounds.close()
    again, _ = sounds_at(path)
    assert (again.status().revision, again.status().size) == (2, 0)
    assert again.check(onset(1)) is None


@pytest.mark.usefixtures("short_waits")
def test_a_list_that_cannot_be_saved_uses_the_fingerprints_known(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    sounds, _ = sounds_at(path)
    sounds.remember(5, onset(1), T0)
    sounds.remember(6, onset(2), T0)
    sounds.remember(7, onset(3), T0)
    sounds.handle(marks(1, 5))
    lock = WriteLock(path)
    # 5 is in the list applied (RAM), 6 only in the file (still readable), 77 nowhere.
    sounds.handle(marks(2, 5, 6, 77))
    status = sounds.status()
    assert (status.revision, status.size, status.unknown) == (2, 2, [77])
    assert sounds.check(onset(1)) is not None
    assert sounds.check(onset(2)) is not None
    assert sounds.check(onset(3)) is None
    lock.release()
    sounds.handle(marks(3, 6))  # the next list is saved, and the fault cleared
    assert sounds.fault is None
    sounds.close()
    again, _ = sounds_at(path)
    assert (again.status().revision, again.status().size) == (3, 1)


@pytest.mark.usefixtures("short_waits")
def test_a_remember_that_fails_raises_the_fault_until_one_works(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    sounds, _ = sounds_at(path)
    lock = WriteLock(path)
    sounds.remember(5, onset(1), T0)  # logged, never raised into the audio thread
    assert sounds.fault is not None
    assert "cannot remember" in sounds.fault
    lock.release()
    sounds.remember(6, onset(2), T0)
    assert sounds.fault is None


@pytest.mark.usefixtures("short_waits")
def test_a_file_unusable_for_now_is_kept_and_reported_as_a_fault(tmp_path: Path) -> None:
    path = tmp_path / "sound-memory.sqlite3"
    sounds, _ = sounds_at(path)
    sounds.remember(5, onset(1), T0)
    sounds.handle(marks(1, 5))
    sounds.close()
    lock = WriteLock(path)
    locked_out = SoundsToIgnore.open(path, MODEL, Changes())
    lock.release()
    assert locked_out.fault is not None
    assert "kept in memory only" in locked_out.fault
    assert locked_out.status().size == 0  # a cry alerts while the marks are away
    assert list(tmp_path.glob("*.damaged-*")) == []
    again = SoundsToIgnore.open(path, MODEL, Changes())
    assert again.fault is None
    assert again.status().size == 1


def test_a_reused_episode_id_never_marks_the_older_episodes_sound(tmp_path: Path) -> None:
    sounds, _ = sounds_at(tmp_path / "m.sqlite3")
    sounds.remember(7, onset(1), T0)
    sounds.remember(7, ended(1), T0)
    # The state folder was wiped: a new episode 7, whose start had no fingerprint.
    sounds.remember(7, CryEvent("cry_started", 1.0, 1.5, 0.9, -30.0), T0)
    sounds.remember(7, ended(4), T0)
    sounds.handle(marks(1, 7))
    assert sounds.check(onset(1)) is None  # the first 7's sound is not the one marked
    assert sounds.check(onset(4)) is not None


@pytest.mark.usefixtures("short_waits")
def test_a_list_that_cannot_be_matched_again_at_start_is_kept_as_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.sqlite3"
    sounds, _ = sounds_at(path)
    sounds.remember(5, onset(1), T0)
    sounds.handle(marks(1, 5, 6))  # 6: no recording yet, so the next start matches again
    sounds.close()

    memory = SoundMemory(path)
    lock = WriteLock(path)
    with caplog.at_level(logging.ERROR):
        restarted = SoundsToIgnore(memory, MODEL, Changes(), RULE, clock=lambda: T0)
    lock.release()
    assert "cannot match the sounds to ignore again" in caplog.text
    status = restarted.status()
    # The marks it could use still work, and the revision stays, so an older list is refused.
    assert (status.revision, status.size, status.unknown) == (1, 1, [6])
    assert restarted.check(onset(1)) is not None
    assert restarted.fault is not None
