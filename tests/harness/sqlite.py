"""SQLite conditions a device's files meet that a test cannot wait for."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class WriteLock:
    """Another connection holding the file's write lock (a second process, a maintenance
    tool): a writer that waited its busy timeout gets "database is locked"; readers of a WAL
    file still read."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self._db.execute("COMMIT")
        self._db.close()
