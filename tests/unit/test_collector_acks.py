"""The collector's acknowledgement path: receipts come back only after commit, PUBACKs go out
in one write per batch on the connection the messages came on, and reading pauses at the bound."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime
from typing import Any

import pytest

from cloud.collector.acks import BatchAcknowledger, Receipt
from cloud.collector.batcher import Batcher, BatchPolicy
from cloud.storage import StorageError
from cloud.storage.records import IngestBatch, IngestResult, TelemetryRow

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def reading(seq: int) -> TelemetryRow:
    return TelemetryRow("dev-1", seq, T0, T0, 20.0, 45.0, None, None)


class GatedStore:
    """A storage write that waits until the test lets it commit (or fail)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.fail = False
        self.writing = 0

    async def write(self, batch: IngestBatch) -> IngestResult:
        self.writing += 1
        await self.gate.wait()
        self.writing -= 1
        if self.fail:
            raise StorageError("database down")
        self.batches.append([row.seq for row in batch.readings])
        return IngestResult(readings_stored=len(batch.readings))


def batcher_for(store: GatedStore, stored: list[int], abandoned: list[int]) -> Batcher[int]:
    return Batcher(
        store.write,
        BatchPolicy(max_items=3, max_delay_s=0.01),
        lambda _batch, _result, _seconds: None,
        stored.extend,
        abandoned.extend,
    )


async def until(predicate: Any) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition not reached")


async def test_receipts_come_back_only_after_commit_and_the_next_batch_fills_meanwhile() -> None:
    store, stored, abandoned = GatedStore(), list[int](), list[int]()
    batcher = batcher_for(store, stored, abandoned)
    batcher.start()
    for seq in range(3):
        batcher.add(reading(seq), seq)
    await asyncio.sleep(0.05)  # the batch of three is being written, not committed
    for seq in range(3, 5):  # arrive while it commits: the next batch, not this one
        batcher.add(reading(seq), seq)
    await asyncio.sleep(0.05)
    assert stored == []
    store.gate.set()
    await until(lambda: len(stored) == 5)
    assert store.batches == [[0, 1, 2], [3, 4]]
    assert stored == [0, 1, 2, 3, 4]
    await batcher.stop()
    assert abandoned == []


async def test_two_batches_commit_at_once_and_the_next_waits_for_a_free_slot() -> None:
    store, stored, abandoned = GatedStore(), list[int](), list[int]()
    batcher = Batcher(
        store.write,
        BatchPolicy(max_items=3, max_delay_s=0.01, concurrent_commits=2),
        lambda _batch, _result, _seconds: None,
        stored.extend,
        abandoned.extend,
    )
    batcher.start()
    for seq in range(9):
        batcher.add(reading(seq), seq)
    await until(lambda: store.writing == 2)
    await asyncio.sleep(0.05)
    assert store.writing == 2  # the third batch waits for one of them
    assert stored == []
    store.gate.set()
    await until(lambda: len(stored) == 9)
    assert sorted(store.batches) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    await batcher.stop()
    assert abandoned == []


async def test_a_batch_not_stored_at_shutdown_is_abandoned_not_acknowledged() -> None:
    store, stored, abandoned = GatedStore(), list[int](), list[int]()
    store.fail = True
    store.gate.set()
    batcher = batcher_for(store, stored, abandoned)
    batcher.start()
    batcher.add(reading(0), 0)
    await asyncio.sleep(0.05)  # failing and retrying
    await batcher.stop()
    assert stored == []
    assert abandoned == [0]


async def test_stop_while_a_batch_waits_out_its_delay_flushes_it_and_returns() -> None:
    # The collector stopped right after a first message arrived: taking that batch cleared
    # "has items" after stop() had set it, and the batcher then waited for items forever.
    store, stored, abandoned = GatedStore(), list[int](), list[int]()
    store.gate.set()
    batcher = Batcher(
        store.write,
        BatchPolicy(max_items=100, max_delay_s=30.0),
        lambda _batch, _result, _seconds: None,
        stored.extend,
        abandoned.extend,
    )
    batcher.start()
    batcher.add(reading(0), 0)
    await asyncio.sleep(0.05)  # the batch is waiting out its 30-s delay
    await asyncio.wait_for(batcher.stop(), timeout=5.0)
    assert stored == [0]
    assert abandoned == []


class FakeTransport:
    def __init__(self) -> None:
        self.reading = True
        self.closing = False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing


class FakeConnection:
    def __init__(self) -> None:
        self._transport = FakeTransport()
        self.writes: list[bytes] = []

    def is_closing(self) -> bool:
        return self._transport.closing

    def send_package(self, data: bytes) -> None:
        self.writes.append(data)


class FakePackageHandler:
    def _handle_qos_1_publish_packet(self, *args: Any) -> None:
        raise AssertionError("gmqtt's own per-message path must not run")


class FakeClient:
    def __init__(self) -> None:
        self._package_handler = FakePackageHandler()
        self._connection = FakeConnection()


def pubacks(data: bytes) -> list[int]:
    return [struct.unpack("!BBH", data[i : i + 4])[2] for i in range(0, len(data), 4)]


def acknowledger(limit: int) -> tuple[FakeClient, BatchAcknowledger, list[Receipt]]:
    client = FakeClient()
    delivered: list[Receipt] = []
    acks = BatchAcknowledger(client, lambda _t, _p, receipt: delivered.append(receipt), limit)
    acks.install()
    return client, acks, delivered


def publish(client: FakeClient, mid: int) -> None:
    client._package_handler._handle_qos_1_publish_packet(mid, b"{}", "nursery/v1/d/telemetry", {})


def test_one_write_acknowledges_a_whole_batch_and_nothing_before() -> None:
    client, acks, delivered = acknowledger(limit=100)
    for mid in (7, 8, 9):
        publish(client, mid)
    assert client._connection.writes == []  # delivered, not yet committed
    assert acks.in_flight == 3
    acks.acknowledge(delivered)
    assert len(client._connection.writes) == 1
    assert client._connection.writes[0][0] == 0x40  # PUBACK
    assert pubacks(client._connection.writes[0]) == [7, 8, 9]
    assert acks.in_flight == 0


def test_committed_messages_from_an_earlier_connection_are_not_acked_on_the_new_one() -> None:
    client, acks, delivered = acknowledger(limit=100)
    publish(client, 1)
    old = client._connection
    client._connection = FakeConnection()  # gmqtt reconnected; the broker may reuse id 1
    publish(client, 2)
    acks.acknowledge(delivered)
    assert old.writes == []
    assert pubacks(client._connection.writes[0]) == [2]
    assert acks.in_flight == 0
    assert acks.acks_dropped == 1


def test_reading_pauses_at_the_bound_and_resumes_when_commits_free_room() -> None:
    client, acks, delivered = acknowledger(limit=3)
    transport = client._connection._transport
    publish(client, 1)
    publish(client, 2)
    assert transport.reading
    publish(client, 3)
    assert not transport.reading
    acks.acknowledge(delivered[:1])
    assert transport.reading


def test_abandoned_receipts_free_room_without_acknowledging() -> None:
    client, acks, delivered = acknowledger(limit=1)
    publish(client, 1)
    assert not client._connection._transport.reading
    acks.release(delivered)
    assert client._connection.writes == []
    assert acks.in_flight == 0
    assert client._connection._transport.reading


def test_an_incompatible_gmqtt_is_refused() -> None:
    client = FakeClient()
    del client._package_handler
    with pytest.raises(RuntimeError):
        BatchAcknowledger(client, lambda *_: None, 10).install()


def test_a_message_its_handler_failed_on_is_neither_counted_nor_acknowledged() -> None:
    client = FakeClient()

    def failing(_topic: str, _payload: bytes, _receipt: Receipt) -> None:
        raise RuntimeError("bug")

    acks = BatchAcknowledger(client, failing, 10)
    acks.install()
    with pytest.raises(RuntimeError):
        publish(client, 1)
    assert acks.in_flight == 0
    assert client._connection.writes == []
