"""The device's sound memory: episodes' fingerprints and the "not a cry" list, on disk."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.detection import sound_memory
from edge.detection.sound_memory import (
    MAX_REMEMBERED_AGE,
    NO_REVISION,
    SCHEMA_VERSION,
    DamagedSoundMemoryError,
    SoundMemory,
    SoundMemoryError,
    open_sound_memory,
)
from models.contract import MAX_IGNORE_MARKS, IgnoreMark
from models.cry.fingerprint import similarity
from tests.harness.sounds import MODEL, OTHER_MODEL, vector
from tests.harness.sqlite import WriteLock

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
# When the parents marked: after every episode these tests remember.
MARKED = T0 + timedelta(days=1)


def mark(episode_id: int, minutes: int = 0) -> IgnoreMark:
    return IgnoreMark(episode_id=episode_id, marked_at=T0 + timedelta(minutes=minutes))


def test_a_marked_episode_takes_its_onset_fingerprint_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sound-memory.sqlite3"
    memory = SoundMemory(path)
    memory.remember_onset(7, T0, MODEL, vector(1))
    memory.remember_episode(7, T0 + timedelta(seconds=30), MODEL, vector(2))
    memory.remember_episode(8, T0, MODEL, vector(3))  # its onset had no fingerprint
    record = memory.replace_ignore_list(4, [mark(7), mark(8, 1), mark(99, 2)], MODEL, T0)
    memory.close()

    again = SoundMemory(path)
    stored = again.ignore_list()
    assert stored == record
    assert stored.revision == 4
    assert stored.changed_at == T0
    by_id = {entry.episode_id: entry for entry in stored.marks}
    assert [entry.episode_id for entry in stored.marks] == [99, 8, 7]  # newest mark first
    # float16 on disk: alike to far better than any similarity rule cares about.
    assert similarity(by_id[7].fingerprint, vector(1)) > 0.9999  # type: ignore[arg-type]
    assert similarity(by_id[8].fingerprint, vector(3)) > 0.9999  # type: ignore[arg-type]
    assert by_id[99].fingerprint is None
    assert by_id[99].model is None
    assert again.remembered_count() == 2
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_marks_keep_their_fingerprint_after_the_episode_is_pruned(tmp_path: Path) -> None:
    memory = SoundMemory(tmp_path / "m.sqlite3")
    memory.remember_onset(1, T0, MODEL, vector(1))
    memory.replace_ignore_list(0, [mark(1)], MODEL, T0)
    # 91 days later a new episode prunes the old one from the remembered episodes...
    memory.remember_onset(2, T0 + MAX_REMEMBERED_AGE + timedelta(days=1), MODEL, vector(2))
    assert memory.remembered(1, MODEL, MARKED) is None
    # ...but the list keeps its copy, through a later revision too.
    second = IgnoreMark(episode_id=2, marked_at=T0 + MAX_REMEMBERED_AGE + timedelta(days=2))
    record = memory.replace_ignore_list(1, [second, mark(1)], MODEL, T0)
    assert all(entry.fingerprint is not None for entry in record.marks)


def test_remembered_episodes_are_bounded_by_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sound_memory, "MAX_REMEMBERED", 5)
    memory = SoundMemory(tmp_path / "m.sqlite3")
    for episode in range(12):
        memory.remember_onset(episode, T0 + timedelta(minutes=episode), MODEL, vector(episode))
    assert memory.remembered_count() == 5
    assert memory.remembered(6, MODEL, MARKED) is None
    assert memory.remembered(7, MODEL, MARKED) is not None


def test_the_ignore_list_is_bounded_to_the_newest_marks(tmp_path: Path) -> None:
    memory = SoundMemory(tmp_path / "m.sqlite3")
    marks = [mark(episode, minutes=episode) for episode in range(MAX_IGNORE_MARKS + 8)]
    record = memory.replace_ignore_list(1, marks, MODEL, T0)
    assert len(record.marks) == MAX_IGNORE_MARKS
    assert min(entry.episode_id for entry in record.marks) == 8


def test_another_models_fingerprints_are_never_used_but_kept(tmp_path: Path) -> None:
    memory = SoundMemory(tmp_path / "m.sqlite3")
    memory.remember_onset(3, T0, OTHER_MODEL, vector(3))
    memory.remember_episode(3, T0, MODEL, vector(4))  # an end never mixes models
    assert memory.remembered(3, MODEL, MARKED) is None
    record = memory.replace_ignore_list(1, [mark(3)], MODEL, T0)
    assert record.marks[0].fingerprint is None
    # The old model's mark stays with its model when the device runs that model.
    kept = memory.replace_ignore_list(2, [mark(3)], OTHER_MODEL, T0)
    assert kept.marks[0].model == OTHER_MODEL
    again = memory.replace_ignore_list(3, [mark(3)], MODEL, T0)
    assert again.marks[0].model == OTHER_MODEL  # not relabelled: never compared with MODEL


def test_an_empty_list_clears_and_a_new_store_has_no_revision(tmp_path: Path) -> None:
    memory = SoundMemory(tmp_path / "m.sqlite3")
    assert memory.ignore_list().revision == NO_REVISION
    assert memory.ignore_list().changed_at is None
    memory.remember_onset(1, T0, MODEL, vector(1))
    memory.replace_ignore_list(1, [mark(1)], MODEL, T0)
    cleared = memory.replace_ignore_list(2, [], MODEL, T0 + timedelta(hours=1))
    assert cleared.marks == ()
    assert cleared.revision == 2
    assert cleared.changed_at == T0 + timedelta(hours=1)


def test_a_damaged_file_is_moved_aside_and_an_empty_store_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sound-memory.sqlite3"
    path.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    with pytest.raises(SoundMemoryError):
        SoundMemory(path)
    with caplog.at_level(logging.ERROR):
        opened = open_sound_memory(path)
    assert opened.problem is not None
    assert "moved to sound-memory.sqlite3.damaged-" in opened.problem
    assert not opened.volatile
    assert opened.memory.ignore_list().revision == NO_REVISION
    assert "sound memory damaged" in caplog.text
    assert len(list(tmp_path.glob("sound-memory.sqlite3.damaged-*"))) == 1
    # The new file works and persists.
    opened.memory.remember_onset(1, T0, MODEL, vector(1))
    opened.memory.close()
    assert SoundMemory(path).remembered(1, MODEL, MARKED) is not None


def test_a_file_of_a_newer_schema_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    SoundMemory(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SoundMemoryError, match="newer version"):
        SoundMemory(path)


def test_a_folder_that_cannot_hold_the_file_keeps_the_memory_in_ram(tmp_path: Path) -> None:
    # The state folder's place is taken by a file: no database can be created there.
    (tmp_path / "state").write_text("not a folder")
    opened = open_sound_memory(tmp_path / "state" / "sound-memory.sqlite3")
    assert opened.volatile
    assert opened.problem is not None
    opened.memory.remember_onset(1, T0, MODEL, vector(1))
    assert opened.memory.remembered(1, MODEL, MARKED) is not None


def a_memory_with_a_mark(path: Path) -> None:
    memory = SoundMemory(path)
    memory.remember_onset(7, T0, MODEL, vector(1))
    memory.replace_ignore_list(3, [mark(7)], MODEL, T0)
    memory.close()


def assert_the_mark_is_intact(path: Path) -> None:
    memory = SoundMemory(path)
    assert memory.ignore_list().revision == 3
    assert memory.ignore_list().marks[0].fingerprint is not None
    assert memory.remembered(7, MODEL, MARKED) is not None
    memory.close()


def test_a_locked_file_is_left_alone_and_the_memory_kept_in_ram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sound_memory, "OPEN_BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "sound-memory.sqlite3"
    a_memory_with_a_mark(path)
    lock = WriteLock(path)
    with caplog.at_level(logging.ERROR):
        opened = open_sound_memory(path)
    lock.release()
    assert opened.volatile  # the device reports the sound_memory fault
    assert opened.problem is not None
    assert "locked" in opened.problem
    assert "unusable for now" in caplog.text
    assert list(tmp_path.glob("*.damaged-*")) == []
    opened.memory.remember_onset(8, T0, MODEL, vector(2))  # the RAM memory works meanwhile
    assert opened.memory.remembered(8, MODEL, MARKED) is not None
    assert_the_mark_is_intact(path)


def test_a_file_of_a_newer_schema_is_kept_for_the_upgrade_back(tmp_path: Path) -> None:
    path = tmp_path / "sound-memory.sqlite3"
    a_memory_with_a_mark(path)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    opened = open_sound_memory(path)  # a downgrade runs this version on the newer file
    assert opened.volatile
    assert opened.problem is not None
    assert "newer version" in opened.problem
    assert list(tmp_path.glob("*.damaged-*")) == []
    opened.memory.close()
    # The upgrade back (here: this version again) finds every mark as it was.
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    assert_the_mark_is_intact(path)


def test_a_malformed_file_is_damaged_and_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "sound-memory.sqlite3"
    a_memory_with_a_mark(path)
    data = bytearray(path.read_bytes())
    page_size = 4096
    data[page_size + 8 : 2 * page_size] = b"\xa5" * (page_size - 8)  # a table page's cells
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedSoundMemoryError):
        SoundMemory(path)
    opened = open_sound_memory(path)
    assert not opened.volatile
    assert len(list(tmp_path.glob("sound-memory.sqlite3.damaged-*"))) == 1


def test_only_the_newest_damaged_copy_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "sound-memory.sqlite3"
    older = [
        tmp_path / "sound-memory.sqlite3.damaged-20260101T000000Z",
        tmp_path / "sound-memory.sqlite3.damaged-20260101T000000Z-wal",
        tmp_path / "sound-memory.sqlite3.damaged-20260301T000000Z",
    ]
    for copy in older:
        copy.write_bytes(b"fingerprints of a home's sounds")
    (tmp_path / "outbox.sqlite3").write_bytes(b"not ours to delete")
    path.write_bytes(b"this is not a database" * 100)
    opened = open_sound_memory(path)
    assert opened.problem is not None
    copies = list(tmp_path.glob("sound-memory.sqlite3.damaged-*"))
    assert [copy.name for copy in copies] == [opened.problem.rsplit("moved to ", 1)[1]]
    assert copies[0].read_bytes().startswith(b"this is not a database")
    assert (tmp_path / "outbox.sqlite3").exists()


def test_a_reused_episode_id_replaces_the_whole_remembered_episode(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    memory = SoundMemory(path)
    memory.remember_onset(7, T0, OTHER_MODEL, vector(1))
    memory.remember_episode(7, T0 + timedelta(seconds=30), OTHER_MODEL, vector(2))
    # The state folder was wiped: ids start again, and episode 7 is now another sound, heard
    # by this model long after the first 7 (whose age alone would prune it).
    later = T0 + MAX_REMEMBERED_AGE + timedelta(days=1)
    memory.remember_onset(7, later, MODEL, vector(3))
    remembered = memory.remembered(7, MODEL, later + timedelta(minutes=1))
    assert remembered is not None
    assert similarity(remembered, vector(3)) > 0.9999
    recorded_at, model, episode = (
        sqlite3.connect(path)
        .execute("SELECT recorded_at, model, episode FROM episodes WHERE episode_id = 7")
        .fetchone()
    )
    assert datetime.fromisoformat(recorded_at) == later
    assert model == MODEL
    assert episode is None  # never the first 7's whole-episode sound


def test_a_stored_mark_never_shows_its_fingerprint(tmp_path: Path) -> None:
    memory = SoundMemory(tmp_path / "m.sqlite3")
    memory.remember_onset(7, T0, MODEL, vector(1))
    record = memory.replace_ignore_list(3, [mark(7)], MODEL, T0)
    assert record.marks[0].fingerprint is not None
    assert "fingerprint" not in repr(record)
    assert "array" not in repr(record)


def test_a_mark_made_before_an_episode_was_recorded_never_takes_its_fingerprint(
    tmp_path: Path,
) -> None:
    """The state folder was wiped and ids start again: the cloud's list still names episode 7
    as the parents marked it on T0, but this device's episode 7 is a new sound heard a week
    later. It must stay unknown, not become a sound to ignore."""
    memory = SoundMemory(tmp_path / "m.sqlite3")
    memory.remember_onset(7, T0 + timedelta(days=7), MODEL, vector(3))
    record = memory.replace_ignore_list(4, [mark(7)], MODEL, T0 + timedelta(days=7))
    assert [entry.fingerprint for entry in record.marks] == [None]
    assert memory.remembered(7, MODEL, T0) is None
    # Recorded a little after the mark by a device clock running ahead: still that episode.
    memory.remember_onset(8, T0 + timedelta(minutes=2), MODEL, vector(4))
    assert memory.remembered(8, MODEL, T0) is not None
