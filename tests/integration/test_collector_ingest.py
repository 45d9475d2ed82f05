"""The collector through the real broker and database: stored once, garbage never blocks."""

from __future__ import annotations

import asyncio
import gc
import uuid
from datetime import UTC, datetime, timedelta

from cloud.collector import Collector
from cloud.config import CollectorSettings, MqttSettings
from cloud.storage import Storage
from cloud.storage.records import HistoryQuery
from models.contract import MessageKind, Telemetry, topic_for
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.services import BrokerAccount, create_account

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


async def _wait_for(predicate_count: int, collector: Collector, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while collector.committed_rows < predicate_count:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"collector stored {collector.committed_rows}, expected {predicate_count}"
            )
        await asyncio.sleep(0.05)


async def test_redelivered_messages_are_stored_once_and_garbage_is_skipped(
    collector: Collector, storage: Storage, mosquitto: MosquittoBroker
) -> None:
    device_id = f"ingest-{uuid.uuid4().hex[:8]}"
    owner = await storage.create_user(f"{device_id}@example.com", "hash", None)
    await storage.register_device(device_id, owner.id)
    account = create_account(mosquitto, device_id)
    topic = topic_for(device_id, MessageKind.TELEMETRY)

    def reading(seq: int) -> bytes:
        return Telemetry(
            device_id=device_id, seq=seq, ts=T0 + timedelta(seconds=seq), temperature_c=20.0 + seq
        ).to_json()

    def publish_all() -> None:
        with probe(
            mosquitto.host, mosquitto.port, device_id, account.username, account.password
        ) as device:
            device.connect(mosquitto.host, mosquitto.port)
            for raw in (reading(0), b"{garbage", reading(1), reading(1), reading(0), reading(2)):
                assert not device.publish(topic, raw).is_failure

    await asyncio.to_thread(publish_all)
    await _wait_for(3, collector)
    await asyncio.sleep(0.5)  # any wrongly doubled row would arrive in this window
    history = await storage.list_health_records(owner.id, HistoryQuery())
    assert sorted(record.temperature or 0 for record in history) == [20.0, 21.0, 22.0]
    assert collector.committed_rows == 3
    letters = await storage.list_dead_letters()
    assert any(letter.payload == b"{garbage" for letter in letters)


async def test_start_freezes_what_is_alive_so_full_collections_skip_it(
    storage: Storage,
    database_url: str,
    mosquitto: MosquittoBroker,
    collector_account: BrokerAccount,
) -> None:
    mqtt = MqttSettings(
        mosquitto.host, mosquitto.port, collector_account.username, collector_account.password
    )
    settings = CollectorSettings(
        database_url, mqtt, client_id=f"freeze-{uuid.uuid4().hex[:8]}", share_group="freeze",
        http_port=0,
    )  # fmt: skip
    collector = Collector(settings, storage)
    # Not gc.unfreeze(): in this long test process that would hand every earlier test's frozen
    # leftovers back to the collector at once. Objects made after any earlier freeze will do.
    frozen_before = gc.get_freeze_count()
    alive_since = [[n] for n in range(1_000)]  # lists are always GC-tracked; small dicts not
    await collector.start()
    try:
        assert gc.get_freeze_count() >= frozen_before + len(alive_since)
    finally:
        await collector.stop()
