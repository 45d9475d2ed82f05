"""The device's per-device sequence counter, kept in SQLite so it survives restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class SequenceCounter:
    """Hands out increasing sequence numbers; a number is never handed out twice, even across
    restarts or power cuts, because it is committed (synchronously) before it is returned."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sequence (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " next_seq INTEGER NOT NULL)"
        )
        self._db.execute("INSERT OR IGNORE INTO sequence (id, next_seq) VALUES (1, 0)")

    def take(self) -> int:
        row = self._db.execute(
            "UPDATE sequence SET next_seq = next_seq + 1 WHERE id = 1 RETURNING next_seq - 1"
        ).fetchone()
        return int(row[0])

    def last_assigned(self) -> int:
        row = self._db.execute("SELECT next_seq FROM sequence WHERE id = 1").fetchone()
        return int(row[0]) - 1

    def close(self) -> None:
        self._db.close()
