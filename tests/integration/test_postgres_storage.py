"""The PostgreSQL storage: idempotent migrations, deduplicated ingest, per-owner history."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from cloud.storage import DuplicateEmailError, Storage, open_storage
from cloud.storage.records import HistoryQuery, TelemetryRow

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    store = await open_storage(database_url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


def _row(device_id: str, seq: int, temperature: float = 21.0) -> TelemetryRow:
    time = T0 + timedelta(seconds=10 * seq)
    return TelemetryRow(device_id, seq, time, time, temperature, 45.0, -60.0, -40.0)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_migrations_are_idempotent_and_safe_concurrently(database_url: str) -> None:
    stores = [await open_storage(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(store.migrate() for store in stores))
        assert all(result == [] for result in results)  # the fixture-free first run happened
    finally:
        for store in stores:
            await store.close()


async def test_duplicate_email_is_refused_case_insensitively(storage: Storage) -> None:
    email = f"{_unique('dup')}@example.com"
    await storage.create_user(email, "hash", None)
    with pytest.raises(DuplicateEmailError):
        await storage.create_user(email.upper(), "hash", None)
    credentials = await storage.get_credentials(email.upper())
    assert credentials is not None
    assert credentials.user.email == email


async def test_telemetry_is_stored_once_and_unknown_devices_ignored(storage: Storage) -> None:
    owner = await storage.create_user(f"{_unique('owner')}@example.com", "hash", None)
    device_id = _unique("dev")
    await storage.register_device(device_id, owner.id)
    assert await storage.store_telemetry([_row(device_id, 0), _row(device_id, 1)]) == 2
    assert await storage.store_telemetry([_row(device_id, 1), _row(device_id, 2)]) == 1
    assert await storage.store_telemetry([_row(_unique("unknown"), 0)]) == 0
    history = await storage.list_health_records(owner.id, HistoryQuery())
    assert [record.created_at for record in history] == [
        _row(device_id, seq).time for seq in (2, 1, 0)
    ]
    assert {record.source for record in history} == {"device"}
    assert {record.user_id for record in history} == {owner.id}


async def test_history_is_private_filtered_and_paged(storage: Storage) -> None:
    owner = await storage.create_user(f"{_unique('owner')}@example.com", "hash", None)
    stranger = await storage.create_user(f"{_unique('stranger')}@example.com", "hash", None)
    device_id = _unique("dev")
    await storage.register_device(device_id, owner.id)
    await storage.store_telemetry([_row(device_id, seq, 20.0 + seq) for seq in range(10)])
    assert await storage.list_health_records(stranger.id, HistoryQuery()) == []
    page = await storage.list_health_records(owner.id, HistoryQuery(limit=3, offset=2))
    assert [record.temperature for record in page] == [27.0, 26.0, 25.0]
    window = await storage.list_health_records(
        owner.id, HistoryQuery(start=_row(device_id, 3).time, end=_row(device_id, 5).time)
    )
    assert [record.temperature for record in window] == [25.0, 24.0, 23.0]
    assert await storage.list_health_records(owner.id, HistoryQuery(cry_detected=True)) == []
