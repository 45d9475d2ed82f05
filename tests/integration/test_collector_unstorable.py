"""Messages the database refuses or the code chokes on, on each real backend (issue 27 review):
each is halved out of its batch, retried alone a few times (readiness says so meanwhile), then
kept as a dead letter and acknowledged. Two of them in different batches once held both commit
slots for ever: nothing after them was stored and readiness stayed green. A database that is
down still makes nothing a dead letter."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.collector.batcher import Batcher, BatchPolicy, WriteBatch
from cloud.collector.decode import UNEXPECTED
from cloud.storage import Storage, StorageError
from cloud.storage.records import (
    HistoryQuery,
    IngestBatch,
    IngestResult,
    StatusRow,
    TelemetryRow,
)

BATCH = 5
MESSAGES = 30
# One in the first batch, one in the third: one per commit slot.
BAD_SEQ_AT = 3  # a seq no 64-bit integer holds: neither backend's driver can bind it
BAD_STATUS_AT = 13  # no presence: the database refuses it (devices.online is NOT NULL)
POISON_AT = (BAD_SEQ_AT, BAD_STATUS_AT)


def _message(device_id: str, index: int, at: datetime) -> TelemetryRow | StatusRow:
    """The ``index``-th message, timed ``index`` seconds after ``at``. The two poison ones
    pass for decoded messages here; the contract lets neither through today, but a message
    the database refuses or the code chokes on is what this is about."""
    raw = json.dumps({"device_id": device_id, "index": index}).encode()
    when = at + timedelta(seconds=index)
    if index == BAD_STATUS_AT:
        no_presence: Any = None
        return StatusRow(device_id, index, when, when, no_presence, "1.0", None, {}, raw=raw)
    seq = 2**63 if index == BAD_SEQ_AT else index
    return TelemetryRow(device_id, seq, when, when, 21.0, 45.0, None, None, raw=raw)


def _index(created_at: datetime, at: datetime) -> int:
    return round((created_at - at).total_seconds())


async def _until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _device(storage: Storage) -> tuple[str, int]:
    device_id = f"unstorable-{uuid.uuid4().hex[:8]}"
    owner = await storage.create_user(f"{device_id}@example.com", "hash", None)
    await storage.register_device(device_id, owner.id)
    return device_id, owner.id


def _batcher(write: WriteBatch, acknowledged: list[int], abandoned: list[int]) -> Batcher[int]:
    return Batcher(
        write,
        BatchPolicy(max_items=BATCH, max_delay_s=0.01, concurrent_commits=2),
        lambda _batch, _result, _seconds: None,
        acknowledged.extend,
        abandoned.extend,
    )


async def test_two_refused_messages_in_different_batches_hold_up_nothing_behind_them(
    storage: Storage,
) -> None:
    device_id, owner_id = await _device(storage)
    acknowledged: list[int] = []
    abandoned: list[int] = []
    batcher = _batcher(storage.ingest, acknowledged, abandoned)
    problems: list[str] = []

    async def watch_readiness() -> None:
        while True:
            if (problem := batcher.problem()) is not None:
                problems.append(problem)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch_readiness())
    batcher.start()
    at = datetime.now(UTC) - timedelta(hours=1)
    for index in range(MESSAGES):
        batcher.add(_message(device_id, index, at), index)
    stored: list[int] = []

    async def refresh() -> None:
        records = await storage.list_health_records(owner_id, HistoryQuery(limit=1000))
        stored[:] = sorted(_index(record.created_at, at) for record in records)

    deadline = time.monotonic() + 20.0
    while len(acknowledged) < MESSAGES and time.monotonic() < deadline:
        await refresh()
        await asyncio.sleep(0.1)
    await refresh()
    watcher.cancel()
    await batcher.stop()

    assert stored == [index for index in range(MESSAGES) if index not in POISON_AT]
    assert sorted(acknowledged) == list(range(MESSAGES))
    assert abandoned == []
    letters = [
        letter
        for letter in await storage.list_dead_letters(limit=50)
        if letter.topic.startswith(f"nursery/v1/{device_id}/")
    ]
    assert sorted(json.loads(letter.payload)["index"] for letter in letters) == list(POISON_AT)
    assert all(letter.error.startswith(UNEXPECTED) for letter in letters)
    by_index = {json.loads(letter.payload)["index"]: letter for letter in letters}
    assert by_index[BAD_SEQ_AT].topic.endswith("/telemetry")
    assert by_index[BAD_STATUS_AT].topic.endswith("/status")
    assert "PermanentStorageError" in by_index[BAD_STATUS_AT].error
    assert problems, "readiness never said a message was being retried"
    assert batcher.problem() is None


async def test_a_database_down_for_a_while_makes_nothing_a_dead_letter(storage: Storage) -> None:
    device_id, owner_id = await _device(storage)
    acknowledged: list[int] = []
    abandoned: list[int] = []
    # Down for longer than a refused message is retried before it is dead-lettered.
    back_at = time.monotonic() + 3.0

    async def write(batch: IngestBatch) -> IngestResult:
        if time.monotonic() < back_at:
            raise StorageError("PostgreSQL: connection refused (the database is down)")
        return await storage.ingest(batch)

    batcher = _batcher(write, acknowledged, abandoned)
    batcher.start()
    at = datetime.now(UTC) - timedelta(hours=1)
    healthy = [index for index in range(MESSAGES) if index not in POISON_AT]
    for index in healthy:
        batcher.add(_message(device_id, index, at), index)
    await asyncio.sleep(1.0)
    assert acknowledged == []
    await _until(lambda: len(acknowledged) == len(healthy), "every message acknowledged")
    await batcher.stop()

    records = await storage.list_health_records(owner_id, HistoryQuery(limit=1000))
    assert sorted(_index(record.created_at, at) for record in records) == healthy
    letters = await storage.list_dead_letters(limit=50)
    assert not [letter for letter in letters if device_id in letter.topic]
