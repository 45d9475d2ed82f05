"""The device's memory of its cry episodes' sounds and of the home's "not a cry" list.

One SQLite file beside the outbox (the state folder: survives restarts and package updates).
It keeps, per recent cry episode, two fingerprints (models/cry/fingerprint.py): the onset's
(what decided the alert) and the whole episode's - never audio. When the cloud sends the
home's marks (``ignore/desired``: episode ids and dates only), the marked episodes'
fingerprints are copied into the ignore list, so a mark outlives the pruning of old episodes.

Fingerprints carry the sha256 of the backbone that computed them: another model's embedding
lives in another space, so such an entry is kept (the model may come back) but never compared.

Bounded: the newest ``MAX_REMEMBERED`` episodes within ``MAX_REMEMBERED_AGE``, and at most
``MAX_IGNORE_MARKS`` marks. A damaged file never stops cry detection: ``open_sound_memory``
moves it aside and starts empty (the marks come back as "unknown" with the next list). A file
that is only unusable for now (locked by another process, disk full, I/O error, or written by
a newer version) is left as it is and the memory kept in RAM: its fingerprints are not lost.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.contract import MAX_IGNORE_MARKS, IgnoreMark
from models.cry.fingerprint import FINGERPRINT_SIZE, normalised

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

# Version of the file's layout (PRAGMA user_version), so a later update can migrate it.
SCHEMA_VERSION = 1
# Episodes whose fingerprints are kept for a later "not a cry": a few weeks of a fussy baby,
# about 4 KB each (two float16 vectors), so at most a few MB on the SD card.
MAX_REMEMBERED = 1000
MAX_REMEMBERED_AGE = timedelta(days=90)
# A mark names an episode by its id, and ids start again at 0 when the device's state folder is
# wiped: a remembered episode recorded after the mark was made is another sound under a reused
# id, never the one the parents marked. The slack absorbs the device's clock being ahead of the
# server's (a mark always comes after its alert, so more would only let a reused id through).
MARK_CLOCK_SLACK = timedelta(minutes=5)
# No revision applied yet (the cloud's revisions start at 0 or more).
NO_REVISION = -1
# How long opening waits for another connection's write lock (a maintenance tool, a second
# agent started by mistake) before keeping the memory in RAM, and how long a later write
# waits: short, because the audio thread writes each episode and must not stall.
OPEN_BUSY_TIMEOUT_S = 10.0
WRITE_BUSY_TIMEOUT_MS = 1000
# A damaged file's copy is named ``<name>.damaged-<time>`` (plus its -wal/-shm).
DAMAGED_INFIX = ".damaged-"
# SQLite's primary result codes that mean the file itself is damaged (not a transient error).
_DAMAGED_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})

SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    episode_id INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    model TEXT NOT NULL,
    onset BLOB,
    episode BLOB
);
CREATE INDEX IF NOT EXISTS episodes_by_time ON episodes (recorded_at);
CREATE TABLE IF NOT EXISTS ignore_marks (
    episode_id INTEGER PRIMARY KEY,
    marked_at TEXT NOT NULL,
    -- NULL: the device had no fingerprint for this mark when the list arrived ("unknown").
    model TEXT,
    fingerprint BLOB
);
CREATE TABLE IF NOT EXISTS ignore_state (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    revision INTEGER NOT NULL,
    changed_at TEXT
);
INSERT OR IGNORE INTO ignore_state (only_row, revision, changed_at) VALUES (1, -1, NULL);
"""


class SoundMemoryError(RuntimeError):
    """The file cannot be used now (locked, disk full, I/O error, a newer version's file):
    leave it alone, it may work again later."""


class DamagedSoundMemoryError(SoundMemoryError):
    """The file is damaged (not a database, malformed, failed its integrity check)."""


@dataclass(frozen=True, slots=True)
class StoredMark:
    """One mark of the applied list; ``fingerprint`` and ``model`` are None when unknown."""

    episode_id: int
    marked_at: datetime
    model: str | None
    # Not compared: an array has no single truth value (as CryEvent.fingerprint). Not in
    # repr: a log line or a traceback must never print a fingerprint's values.
    fingerprint: FloatArray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class IgnoreListRecord:
    """The applied list as stored: its revision, when it last changed here, its marks."""

    revision: int
    changed_at: datetime | None
    marks: tuple[StoredMark, ...]


class SoundMemory:
    """Thread-safe: the audio thread remembers episodes, the MQTT thread applies lists."""

    def __init__(self, path: Path | None) -> None:
        """``path`` None keeps everything in RAM (lost on restart). Raises
        DamagedSoundMemoryError when the file is damaged, SoundMemoryError when it cannot be used
        now (and must be left as it is)."""
        self._lock = threading.Lock()
        self.path = path
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                ":memory:" if path is None else path,
                timeout=OPEN_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as exc:
            raise SoundMemoryError(f"cannot open {path}: {exc}") from exc
        try:
            self._migrate()
            self._db.execute(f"PRAGMA busy_timeout = {WRITE_BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            self._db.close()
            if isinstance(exc, sqlite3.DatabaseError) and _is_damage(exc):
                raise DamagedSoundMemoryError(f"{path} is damaged: {exc}") from exc
            raise SoundMemoryError(f"{path} cannot be used now: {exc}") from exc
        except SoundMemoryError:
            self._db.close()
            raise

    def _migrate(self) -> None:
        # "quick_check" reads every page: a damaged file is found now, not at the first mark.
        check = self._db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise DamagedSoundMemoryError(f"{self.path} failed its integrity check: {check}")
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            # Not damaged: after a downgrade, the upgrade back must find its marks intact.
            raise SoundMemoryError(
                f"{self.path} was written by a newer version (schema {version}, this one"
                f" knows {SCHEMA_VERSION})"
            )
        # A lost fingerprint costs one more false alarm, not a cry: NORMAL (no fsync per
        # episode) spares the SD card; WAL keeps the file consistent across a power cut.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # Statement by statement: executescript() would commit half-way.
            for statement in _statements(SCHEMA):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    # ---- remembered episodes (audio thread) ----

    def remember_onset(
        self, episode_id: int, recorded_at: datetime, model: str, fingerprint: FloatArray
    ) -> None:
        """Keep a new episode's onset fingerprint, then prune to the bounds. A new onset is a
        new episode: an older row under the same id (ids restart at 0 when the state folder
        is wiped) is replaced whole, its whole-episode fingerprint too (another sound)."""
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO episodes (episode_id, recorded_at, model, onset, episode)"
                " VALUES (?, ?, ?, ?, NULL)",
                (episode_id, _iso(recorded_at), model, _blob(fingerprint)),
            )
            self._prune(recorded_at)

    def forget(self, episode_id: int) -> None:
        """Drop what is remembered under ``episode_id``: a new episode without an onset
        fingerprint took the id, so an older episode's sound must not be marked for it."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM episodes WHERE episode_id = ?", (episode_id,))

    def remember_episode(
        self, episode_id: int, recorded_at: datetime, model: str, fingerprint: FloatArray
    ) -> None:
        """Keep an ended episode's whole-episode fingerprint (beside its onset's, if kept)."""
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT INTO episodes (episode_id, recorded_at, model, episode)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (episode_id) DO UPDATE SET"
                " episode = excluded.episode WHERE episodes.model = excluded.model",
                (episode_id, _iso(recorded_at), model, _blob(fingerprint)),
            )
            self._prune(recorded_at)

    def remembered(self, episode_id: int, model: str, marked_at: datetime) -> FloatArray | None:
        """The fingerprint a mark of this episode uses: its onset's, because what a mark is
        compared with is always a new onset (like with like: the same stretch of an episode,
        the runs that decided the alert; the whole episode's mean drifts as the sound goes
        on, 0.82 to 0.89 alike to its own onset on the test clips), else the whole episode's;
        None when the episode is not remembered, was heard by another model, or was recorded
        after ``marked_at`` (see ``MARK_CLOCK_SLACK``)."""
        with self._lock:
            row = self._db.execute(
                "SELECT onset, episode FROM episodes WHERE episode_id = ? AND model = ?"
                " AND recorded_at <= ?",
                (episode_id, model, _iso(marked_at + MARK_CLOCK_SLACK)),
            ).fetchone()
        if row is None:
            return None
        onset, episode = row
        return _vector(onset) if onset is not None else _vector(episode)

    def remembered_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM episodes").fetchone()[0])

    def _prune(self, now: datetime) -> None:
        self._db.execute(
            "DELETE FROM episodes WHERE recorded_at < ?", (_iso(now - MAX_REMEMBERED_AGE),)
        )
        self._db.execute(
            "DELETE FROM episodes WHERE episode_id NOT IN"
            " (SELECT episode_id FROM episodes ORDER BY episode_id DESC LIMIT ?)",
            (MAX_REMEMBERED,),
        )

    # ---- the ignore list (MQTT thread) ----

    def ignore_list(self) -> IgnoreListRecord:
        with self._lock:
            revision, changed_at = self._db.execute(
                "SELECT revision, changed_at FROM ignore_state"
            ).fetchone()
            rows = self._db.execute(
                "SELECT episode_id, marked_at, model, fingerprint FROM ignore_marks"
                " ORDER BY marked_at DESC, episode_id DESC"
            ).fetchall()
        return IgnoreListRecord(
            int(revision),
            None if changed_at is None else datetime.fromisoformat(changed_at),
            tuple(
                StoredMark(
                    int(episode_id),
                    datetime.fromisoformat(marked_at),
                    model,
                    None if blob is None else _vector(blob),
                )
                for episode_id, marked_at, model, blob in rows
            ),
        )

    def replace_ignore_list(
        self,
        revision: int,
        marks: Sequence[IgnoreMark],
        model: str | None,
        changed_at: datetime,
    ) -> IgnoreListRecord:
        """Store the list of ``revision``: each mark with the fingerprint this device has for
        it (kept from before, else looked up among the remembered episodes of ``model``), or
        none (unknown). Bounded to the newest ``MAX_IGNORE_MARKS``."""
        newest = newest_marks(marks)
        with self._lock, self._transaction():
            kept = {
                int(episode_id): (stored_model, blob)
                for episode_id, stored_model, blob in self._db.execute(
                    "SELECT episode_id, model, fingerprint FROM ignore_marks"
                    " WHERE fingerprint IS NOT NULL"
                )
            }
            self._db.execute("DELETE FROM ignore_marks")
            for mark in newest:
                stored_model, blob = kept.get(mark.episode_id, (None, None))
                if (blob is None or stored_model != model) and model is not None:
                    found = self._remembered_blob(mark.episode_id, model, mark.marked_at)
                    if found is not None:
                        stored_model, blob = model, found
                self._db.execute(
                    "INSERT OR REPLACE INTO ignore_marks (episode_id, marked_at, model,"
                    " fingerprint) VALUES (?, ?, ?, ?)",
                    (mark.episode_id, _iso(mark.marked_at), stored_model, blob),
                )
            self._db.execute(
                "UPDATE ignore_state SET revision = ?, changed_at = ?",
                (revision, _iso(changed_at)),
            )
        return self.ignore_list()

    def _remembered_blob(self, episode_id: int, model: str, marked_at: datetime) -> bytes | None:
        row = self._db.execute(
            # As remembered(): the onset's fingerprint first, never one recorded after the mark.
            "SELECT coalesce(onset, episode) FROM episodes WHERE episode_id = ? AND model = ?"
            " AND recorded_at <= ?",
            (episode_id, model, _iso(marked_at + MARK_CLOCK_SLACK)),
        ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:
            # After some errors (disk full, I/O) SQLite has rolled back already: a second
            # ROLLBACK would fail and hide the error that matters.
            self._db.execute("ROLLBACK")


@dataclass(frozen=True, slots=True)
class OpenedMemory:
    memory: SoundMemory
    # What went wrong opening the file, in a sentence; None when it opened cleanly.
    problem: str | None
    # True when the memory lives in RAM only (nothing the device learns survives a restart).
    volatile: bool


def open_sound_memory(path: Path) -> OpenedMemory:
    """The sound memory at ``path``. A damaged file is moved aside (``<name>.damaged-<time>``,
    only the newest such copy is kept: they hold fingerprints) and a new one started; a file
    unusable for now is left alone and the memory lives in RAM, as when even a new file
    fails. Never raises: a device that cannot remember sounds must still alert on every cry."""
    try:
        return OpenedMemory(SoundMemory(path), None, False)
    except DamagedSoundMemoryError as exc:
        problem = str(exc)
    except SoundMemoryError as exc:
        logger.error("sound memory unusable for now, keeping it in RAM: %s", exc)
        return OpenedMemory(SoundMemory(None), f"{exc}; kept in RAM", True)
    logger.error("sound memory damaged, starting an empty one: %s", problem)
    aside = path.with_name(f"{path.name}{DAMAGED_INFIX}{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    try:
        for suffix in ("", "-wal", "-shm"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                source.replace(aside.with_name(aside.name + suffix))
        _delete_older_copies(path, keep=aside)
        return OpenedMemory(SoundMemory(path), f"{problem}; moved to {aside.name}", False)
    except (OSError, SoundMemoryError) as exc:
        logger.error("cannot start a new sound memory at %s (%s): keeping it in RAM", path, exc)
        return OpenedMemory(SoundMemory(None), f"{problem}; kept in RAM: {exc}", True)


def _delete_older_copies(path: Path, keep: Path) -> None:
    """Delete the damaged copies other than ``keep`` (and its -wal/-shm): each holds the
    fingerprints of a home's sounds, and one is enough to look into what went wrong."""
    kept = {keep.name + suffix for suffix in ("", "-wal", "-shm")}
    for old in path.parent.glob(f"{path.name}{DAMAGED_INFIX}*"):
        if old.name not in kept:
            try:
                old.unlink()
            except OSError as exc:
                logger.warning("cannot delete the old damaged copy %s: %s", old.name, exc)


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """True for SQLite's "file is not a database" and "database disk image is malformed";
    False for what may pass (locked, disk full, I/O error, read-only)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _DAMAGED_CODES
    message = str(exc).lower()
    return "not a database" in message or "malformed" in message


def newest_marks(marks: Sequence[IgnoreMark]) -> list[IgnoreMark]:
    """The marks a list keeps: the newest ``MAX_IGNORE_MARKS``, newest first."""
    return sorted(marks, key=lambda mark: mark.marked_at, reverse=True)[:MAX_IGNORE_MARKS]


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _iso(moment: datetime) -> str:
    # One fixed format (UTC, microseconds) so text order is time order in SQL.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _blob(fingerprint: FloatArray) -> bytes:
    # float16: half the size, and cosine similarity moves by about 1e-4, far below any rule.
    return np.asarray(fingerprint, dtype="<f2").tobytes()


def _vector(blob: bytes) -> FloatArray | None:
    array = np.frombuffer(bytes(blob), dtype="<f2")
    if array.size != FINGERPRINT_SIZE:
        return None
    return normalised(array)
