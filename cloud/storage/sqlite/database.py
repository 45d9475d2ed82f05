"""One SQLite connection driven from one worker thread, with the project's time format.

SQLite allows one writer at a time anyway; funnelling every call through a single thread keeps
the connection safe to use from asyncio and makes each call's transaction atomic.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

from cloud.storage.interface import PermanentStorageError, StorageError

T = TypeVar("T")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_db_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TIME_FORMAT)


def from_db_time(value: str) -> datetime:
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)


def optional_time(value: str | None) -> datetime | None:
    return None if value is None else from_db_time(value)


def path_from_url(database_url: str) -> Path:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or database_url == prefix:
        raise StorageError(f"invalid SQLite URL {database_url!r}; use sqlite:///path/to/file.db")
    return Path(database_url.removeprefix(prefix))


class SqliteDatabase:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self.path = path
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed (and so acknowledged) message survives a power cut.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` on the database thread; sqlite3 errors become StorageError."""

        def call() -> T:
            if self._conn is None:
                raise StorageError("SQLite storage is closed")
            try:
                return work(self._conn)
            except (sqlite3.IntegrityError, sqlite3.DataError) as exc:
                # The rows themselves are refused: the same write fails every time.
                raise PermanentStorageError(f"SQLite: {exc}") from exc
            except sqlite3.Error as exc:  # "database is locked" and the like pass in time
                raise StorageError(f"SQLite: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        def close(conn: sqlite3.Connection) -> None:
            conn.close()
            self._conn = None

        if self._conn is not None:
            await self.run(close)
        self._executor.shutdown(wait=True)


class Transaction:
    """``with Transaction(conn):`` — BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error.

    ``Transaction(conn, "DEFERRED")`` for reads that only need one consistent snapshot."""

    def __init__(
        self, conn: sqlite3.Connection, mode: Literal["IMMEDIATE", "DEFERRED"] = "IMMEDIATE"
    ) -> None:
        self._conn = conn
        self._mode = mode

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute(f"BEGIN {self._mode}")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
