"""Two collectors (two PostgreSQL storages, each with its own rule-state cache) taking turns on
one device, as a shared-subscription group does: each must see the state the other committed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from cloud.storage import Storage, open_storage
from cloud.storage.records import IngestBatch
from tests.integration.test_storage_contract import late_reading, new_device, reading


@pytest.fixture
async def second_storage(database_url: str) -> AsyncIterator[Storage]:
    store = await open_storage(database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def first_storage(postgres_storage: Storage) -> Storage:
    return postgres_storage  # migrates the database the second one then opens as well


async def test_a_collector_sees_the_rule_state_another_committed(
    first_storage: Storage, second_storage: Storage
) -> None:
    first, second = first_storage, second_storage
    _owner, device_id = await new_device(first)
    await first.set_device_settings(device_id, {"climate_grace_s": 25})
    # The first collector caches an in-range state; the second then stores "too hot since 10 s".
    await first.ingest(IngestBatch(readings=[reading(device_id, 0, temperature=20.0)]))
    await second.ingest(IngestBatch(readings=[reading(device_id, 1, temperature=25.0)]))
    # 30 s later, still hot: only the second collector's state says the grace is over.
    result = await first.ingest(IngestBatch(readings=[reading(device_id, 4, temperature=25.0)]))
    assert [alert.kind for alert in result.alerts] == ["CLIMATE_OUT_OF_RANGE"]
    assert "since" in result.alerts[0].message


async def test_a_collector_reuses_its_own_committed_state(
    first_storage: Storage, second_storage: Storage
) -> None:
    first = first_storage
    _owner, device_id = await new_device(first)
    await first.set_device_settings(device_id, {"climate_grace_s": 25})
    results = [
        await first.ingest(IngestBatch(readings=[reading(device_id, s, temperature=25.0)]))
        for s in range(4)
    ]
    assert [len(result.alerts) for result in results] == [0, 0, 0, 1]
    # The second collector takes over and the device recovers: it must know an alert was out.
    recovered = await second_storage.ingest(
        IngestBatch(readings=[reading(device_id, 4, temperature=20.0)])
    )
    assert [alert.kind for alert in recovered.alerts] == ["CLIMATE_NORMAL"]


def _stored_revision(database_url: str, device_id: str) -> int | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT revision FROM rule_state WHERE device_id = %s", (device_id,)
        ).fetchone()
    return None if row is None else int(row[0])


async def test_readings_that_change_no_rule_leave_the_stored_state_alone(
    first_storage: Storage, database_url: str
) -> None:
    _owner, device_id = await new_device(first_storage)
    await first_storage.set_device_settings(device_id, {"climate_grace_s": 25})
    for seq in range(3):
        await first_storage.ingest(IngestBatch(readings=[reading(device_id, seq)]))
    # Each metric's first reading creates its state; ordinary readings after it write nothing.
    written = _stored_revision(database_url, device_id)
    assert written is not None
    await first_storage.ingest(IngestBatch(readings=[reading(device_id, s) for s in (3, 4)]))
    assert _stored_revision(database_url, device_id) == written
    # Too hot: the condition changed, so the state is written.
    await first_storage.ingest(IngestBatch(readings=[reading(device_id, 5, temperature=25.0)]))
    changed = _stored_revision(database_url, device_id)
    assert changed is not None
    assert changed > written


async def test_a_collector_without_the_state_cached_knows_which_readings_were_considered(
    first_storage: Storage, second_storage: Storage
) -> None:
    # The first collector's readings change no stored document; what it considered is in the
    # device row, which the second collector (nothing cached) must honour.
    _owner, device_id = await new_device(first_storage)
    await first_storage.set_device_settings(device_id, {"climate_grace_s": 25})
    for seq in range(4):  # in range up to 30 s
        await first_storage.ingest(IngestBatch(readings=[reading(device_id, seq)]))
    late = await second_storage.ingest(
        IngestBatch(readings=[late_reading(device_id, 100, seconds=5, temperature=25.0)])
    )
    assert late.alerts == []
    results = [
        await second_storage.ingest(
            IngestBatch(readings=[reading(device_id, seq, temperature=25.0)])
        )
        for seq in (4, 5, 6, 7)
    ]
    assert [len(result.alerts) for result in results] == [0, 0, 0, 1]
