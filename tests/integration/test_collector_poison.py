"""Poison messages between valid ones, through the real broker and the collector into each
backend (issue 27, findings 3, 4 and 11): the valid ones are stored, the poison ones become
capped dead letters, every message is acknowledged, and the device's climate alerts still
work afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloud.collector import Collector
from cloud.config import CollectorSettings, MqttSettings
from cloud.storage import Storage
from cloud.storage.dead_letter_plan import MAX_STORED_PAYLOAD_BYTES
from cloud.storage.records import DeadLetter, HistoryQuery, IngestBatch
from models.contract import MessageKind, Status, Telemetry, topic_for
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.services import BrokerAccount, create_account

TEST_CONF = Path(__file__).resolve().parents[2] / "mosquitto" / "test.conf"
# A payload far beyond the contract's 16 KiB, but within what the test broker accepts (a few
# MB; less where the broker config limits the packet or message size).
BIG_PAYLOAD_BYTES = 3 * 1024 * 1024
# max_packet_size counts the whole packet: leave room for the topic and the headers.
PACKET_OVERHEAD_BYTES = 1024


def big_payload_bytes() -> int:
    config = TEST_CONF.read_text()
    limits = [BIG_PAYLOAD_BYTES]
    if (match := re.search(r"^message_size_limit\s+(\d+)", config, re.M)) and int(match[1]):
        limits.append(int(match[1]))
    if (match := re.search(r"^max_packet_size\s+(\d+)", config, re.M)) and int(match[1]):
        limits.append(int(match[1]) - PACKET_OVERHEAD_BYTES)
    return min(limits)


async def _until(check: object, what: str, timeout_s: float = 30.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_poison_payloads_are_dead_lettered_and_alerts_keep_working(
    collector: Collector, storage: Storage, mosquitto: MosquittoBroker
) -> None:
    device_id = f"poison-{uuid.uuid4().hex[:8]}"
    owner = await storage.create_user(f"{device_id}@example.com", "hash", None)
    await storage.register_device(device_id, owner.id)
    account = create_account(mosquitto, device_id)
    telemetry = topic_for(device_id, MessageKind.TELEMETRY)
    now = datetime.now(UTC)

    def reading(seq: int, ts: str, temperature: float) -> bytes:
        document = {"schema_version": 1, "device_id": device_id, "seq": seq, "ts": ts,
                    "temperature_c": temperature, "humidity_pct": 45.0}  # fmt: skip
        return json.dumps(document).encode()

    size = big_payload_bytes()
    big = reading(900, now.isoformat(), 21.0)[:-1] + b', "pad": "' + b"x" * size + b'"}'
    nul_status = json.dumps(
        {"device_id": device_id, "seq": 1, "ts": now.isoformat(), "state": "online",
         "firmware_version": "0.1\u0000"}
    ).encode()  # fmt: skip
    # Too hot for 10 minutes of device time, up to now: past the 5 minute grace period.
    hot = [
        reading(10 + i, (now - timedelta(seconds=600 - 30 * i)).isoformat(), 30.0)
        for i in range(21)
    ]
    poison = {
        "overflow": reading(2, "0001-01-01T00:00:00+01:00", 30.0),
        "future": reading(3, "9999-12-31T00:00:00Z", 30.0),
        "big": big,
    }
    messages = [
        (telemetry, reading(1, (now - timedelta(seconds=700)).isoformat(), 21.0)),
        (telemetry, poison["overflow"]),
        (telemetry, poison["future"]),
        (telemetry, poison["big"]),
        (topic_for(device_id, MessageKind.STATUS), nul_status),
        *[(telemetry, raw) for raw in hot],
    ]

    def publish_all() -> None:
        with probe(
            mosquitto.host, mosquitto.port, device_id, account.username, account.password
        ) as device:
            device.connect(mosquitto.host, mosquitto.port)
            for topic, raw in messages:
                assert not device.publish(topic, raw).is_failure

    await asyncio.to_thread(publish_all)

    async def all_valid_stored() -> bool:
        history = await storage.list_health_records(owner.id, HistoryQuery(limit=1000))
        return len(history) >= 1 + len(hot)

    async def all_acknowledged() -> bool:
        # The collector's own count of PUBACKs sent: each message only after its commit.
        return collector._acks.acks_sent >= len(messages)

    await _until(all_valid_stored, "the valid readings to be stored")
    await _until(all_acknowledged, f"{len(messages)} acknowledgements")
    history = await storage.list_health_records(owner.id, HistoryQuery(limit=1000))
    assert sorted(record.temperature or 0 for record in history) == [21.0] + [30.0] * len(hot)
    assert max(record.created_at for record in history) <= now + timedelta(minutes=5)

    # The 9999 reading did not stop the climate rules: the hot spell alerts.
    alerts = await storage.list_alerts(device_id)
    assert "CLIMATE_OUT_OF_RANGE" in [alert.kind for alert in alerts]

    letters = {
        letter.sha256: letter
        for letter in await storage.list_dead_letters(limit=50)
        if letter.topic.startswith(f"nursery/v1/{device_id}/")
    }
    by_name: dict[str, DeadLetter] = {
        name: letters[hashlib.sha256(raw).hexdigest()] for name, raw in poison.items()
    }
    assert by_name["overflow"].error.startswith("ts:")
    assert "ahead of the server clock" in by_name["future"].error
    assert "exceeds" in by_name["big"].error
    assert by_name["big"].payload == big[:MAX_STORED_PAYLOAD_BYTES]
    assert by_name["big"].size == len(big)
    nul = letters[hashlib.sha256(nul_status).hexdigest()]
    assert "NUL" in nul.error
    assert len(letters) == 4
    assert collector.metrics.decode_errors._value.get() == 0


async def test_a_status_dated_in_the_future_still_reports_the_clock_fault(
    collector: Collector, storage: Storage, mosquitto: MosquittoBroker
) -> None:
    """A device whose clock is wrong must still be able to say so (the status keeps its
    content and takes the receive time)."""
    device_id = f"clock-{uuid.uuid4().hex[:8]}"
    owner = await storage.create_user(f"{device_id}@example.com", "hash", None)
    await storage.register_device(device_id, owner.id)
    account = create_account(mosquitto, device_id)
    status = Status(
        device_id=device_id, seq=0, ts=datetime(2031, 1, 1, tzinfo=UTC), state="online",
        faults=["clock"], fault_details={"clock": "NTP not synchronised"},
    )  # fmt: skip
    reading = Telemetry(device_id=device_id, seq=1, ts=datetime.now(UTC), temperature_c=20.0)

    def publish() -> None:
        with probe(
            mosquitto.host, mosquitto.port, device_id, account.username, account.password
        ) as device:
            device.connect(mosquitto.host, mosquitto.port)
            device.publish(topic_for(device_id, MessageKind.STATUS), status.to_json())
            device.publish(topic_for(device_id, MessageKind.TELEMETRY), reading.to_json())

    await asyncio.to_thread(publish)

    async def fault_alerted() -> bool:
        alerts = await storage.list_alerts(device_id)
        return any(alert.kind == "DEVICE_FAULT" for alert in alerts)

    await _until(fault_alerted, "the clock fault alert")
    (alert,) = [a for a in await storage.list_alerts(device_id) if a.kind == "DEVICE_FAULT"]
    assert alert.time < datetime.now(UTC) + timedelta(minutes=1)


async def test_the_collector_applies_dead_letter_retention(
    storage: Storage,
    database_url: str,
    mosquitto: MosquittoBroker,
    collector_account: BrokerAccount,
) -> None:
    now = datetime.now(UTC)
    topic = f"retention/{uuid.uuid4().hex[:8]}"
    old = DeadLetter(topic, b"{", "not JSON", now - timedelta(days=3))
    recent = DeadLetter(topic, b"{", "not JSON", now)
    await storage.ingest(IngestBatch(dead_letters=[old, recent]))
    mqtt = MqttSettings(
        mosquitto.host, mosquitto.port, collector_account.username, collector_account.password
    )
    settings = CollectorSettings(
        database_url, mqtt, client_id=f"prune-{uuid.uuid4().hex[:8]}", share_group="prune",
        http_port=0, dead_letter_retention_days=2,
    )  # fmt: skip
    collector = Collector(settings, storage)
    await collector.start()
    try:

        async def old_one_gone() -> bool:
            letters = [d for d in await storage.list_dead_letters(limit=1000) if d.topic == topic]
            return [d.received_at for d in letters] == [recent.received_at]

        await _until(old_one_gone, "the old dead letter to be deleted")
        assert collector.metrics.dead_letters_pruned._value.get() >= 1
    finally:
        await collector.stop()
