"""Which database errors are the rows' fault (permanent: the collector halves the batch and in
the end dead-letters the message) and which may pass (retried whole, never dead-lettered)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from cloud.storage import PermanentStorageError, StorageError
from cloud.storage.postgres.ingest import DeviceRemovedError
from cloud.storage.postgres.store import storage_error
from cloud.storage.sqlite.database import SqliteDatabase


@pytest.mark.parametrize(
    "error",
    [errors.NumericValueOutOfRange(), errors.CheckViolation(), errors.NotNullViolation(),
     errors.ForeignKeyViolation(), errors.InvalidTextRepresentation()],
)  # fmt: skip
def test_postgres_data_and_constraint_errors_are_permanent(error: psycopg.Error) -> None:
    assert isinstance(storage_error("refused", error), PermanentStorageError)


@pytest.mark.parametrize(
    "error",
    [errors.ConnectionException(), errors.AdminShutdown(), errors.SerializationFailure(),
     errors.DeadlockDetected(), errors.DiskFull(), psycopg.OperationalError("server closed"),
     DeviceRemovedError("a device of the batch was deleted meanwhile")],
)  # fmt: skip
def test_postgres_errors_that_may_pass_are_retried(error: Exception) -> None:
    converted = storage_error("failed", error)
    assert isinstance(converted, StorageError)
    assert not isinstance(converted, PermanentStorageError)


async def test_sqlite_constraint_errors_are_permanent_and_a_locked_database_is_not(
    tmp_path: Path,
) -> None:
    database = SqliteDatabase(tmp_path / "kinds.db")
    await database.open()
    try:
        await database.run(lambda conn: conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        await database.run(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))
        with pytest.raises(PermanentStorageError, match="UNIQUE"):
            await database.run(lambda conn: conn.execute("INSERT INTO t VALUES (1)"))

        def locked(conn: sqlite3.Connection) -> None:
            raise sqlite3.OperationalError("database is locked")

        with pytest.raises(StorageError, match="locked") as raised:
            await database.run(locked)
        assert not isinstance(raised.value, PermanentStorageError)
    finally:
        await database.close()
