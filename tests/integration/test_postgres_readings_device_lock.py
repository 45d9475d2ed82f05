"""PostgreSQL: readings have no per-row foreign key (migration 0011); the batch's device lock
and a delete trigger keep what the key kept - no reading without its device."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from cloud.storage import Storage
from cloud.storage.postgres.ingest import _KNOWN_DEVICES
from cloud.storage.records import IngestBatch
from tests.integration.test_storage_contract import new_device, reading


def _count_readings(database_url: str, device_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM readings WHERE device_id = %s", (device_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_deleting_a_device_deletes_its_readings(
    postgres_storage: Storage, database_url: str
) -> None:
    _owner, device_id = await new_device(postgres_storage)
    _owner, neighbour = await new_device(postgres_storage)
    await postgres_storage.ingest(IngestBatch(readings=[reading(device_id, s) for s in range(3)]))
    await postgres_storage.ingest(IngestBatch(readings=[reading(neighbour, 0)]))
    assert _count_readings(database_url, device_id) == 3
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM devices WHERE device_id = %s", (device_id,))
    assert _count_readings(database_url, device_id) == 0
    assert _count_readings(database_url, neighbour) == 1


async def test_a_device_cannot_be_deleted_while_a_batch_holds_it(
    postgres_storage: Storage, database_url: str
) -> None:
    _owner, device_id = await new_device(postgres_storage)
    with psycopg.connect(database_url) as batch, psycopg.connect(database_url) as operator:
        # What ingest does first: check the batch's devices and hold them.
        known = batch.execute(_KNOWN_DEVICES, ([device_id, "never-registered"],)).fetchall()
        assert [row[0] for row in known] == [device_id]
        operator.execute("SET lock_timeout = '200ms'")
        with pytest.raises(errors.LockNotAvailable):
            operator.execute("DELETE FROM devices WHERE device_id = %s", (device_id,))
        operator.rollback()
        batch.commit()
        operator.execute("DELETE FROM devices WHERE device_id = %s", (device_id,))
        operator.commit()


async def test_a_batch_for_a_deleted_device_becomes_dead_letters(
    postgres_storage: Storage, database_url: str
) -> None:
    _owner, device_id = await new_device(postgres_storage)
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM devices WHERE device_id = %s", (device_id,))
    result = await postgres_storage.ingest(IngestBatch(readings=[reading(device_id, 0)]))
    assert (result.readings_stored, result.dead_letters) == (0, 1)
    assert _count_readings(database_url, device_id) == 0
