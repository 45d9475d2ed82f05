"""Reported config through the real broker and collector: the device's answer to its desired
config ends up on the device as its members see it, and a stale retained copy never wins."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from cloud.collector import Collector
from cloud.storage import Storage
from cloud.storage.records import DeviceSummary, HistoryQuery
from models.contract import MessageKind, ReportedConfig, Telemetry, topic_for
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.services import BrokerAccount, create_account

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
TIMEOUT_S = 10.0


def answer(
    device_id: str, revision: int, seconds: float, accepted: bool, error: str | None = None
) -> bytes:
    return ReportedConfig(
        device_id=device_id,
        seq=10 + revision,
        ts=T0 + timedelta(seconds=seconds),
        revision=revision,
        accepted=accepted,
        settings={"telemetry_interval_s": 10 * revision, "cry_detection_enabled": True},
        error=error,
    ).to_json()


def publish_as_device(
    mosquitto: MosquittoBroker,
    account: BrokerAccount,
    messages: list[tuple[MessageKind, bytes]],
) -> None:
    """Publish as the device's own broker account (the ACL lets it write only its own topics).
    Not retained, unlike a real device, so no test leaves messages behind on the shared broker:
    a live subscriber is handed the same message either way."""
    device_id = account.username
    with probe(
        mosquitto.host, mosquitto.port, device_id, account.username, account.password
    ) as device:
        device.connect(mosquitto.host, mosquitto.port)
        for kind, raw in messages:
            assert not device.publish(topic_for(device_id, kind), raw).is_failure


async def wait_for_device(
    storage: Storage, user_id: int, device_id: str, revision: int
) -> DeviceSummary:
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while True:
        device = await storage.get_device(user_id, device_id)
        assert device is not None
        if device.reported_revision == revision:
            return device
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"reported revision {device.reported_revision}, not {revision}")
        await asyncio.sleep(0.05)


async def test_reported_config_is_stored_on_the_device(
    collector: Collector, storage: Storage, mosquitto: MosquittoBroker
) -> None:
    device_id = f"reported-{uuid.uuid4().hex[:8]}"
    owner = await storage.create_user(f"{device_id}@example.com", "hash", None)
    await storage.register_device(device_id, owner.id)
    account = create_account(mosquitto, device_id)

    refused = answer(device_id, 2, 5, accepted=False, error="cry_sensitivity: must be <= 1")
    await asyncio.to_thread(
        publish_as_device, mosquitto, account, [(MessageKind.REPORTED_CONFIG, refused)]
    )
    device = await wait_for_device(storage, owner.id, device_id, 2)
    assert (device.reported_accepted, device.reported_error, device.reported_at) == (
        False, "cry_sensitivity: must be <= 1", T0 + timedelta(seconds=5),
    )  # fmt: skip
    assert device.reported_settings == {"telemetry_interval_s": 20, "cry_detection_enabled": True}
    assert device.last_seen is not None

    # A newer revision wins; then an older one (sent later) must not replace it. The reading
    # published last is committed no earlier than the stale answer before it, so once the
    # reading is stored the stale answer has been seen and ignored.
    reading = Telemetry(device_id=device_id, seq=1, ts=T0, temperature_c=21.0).to_json()
    await asyncio.to_thread(publish_as_device, mosquitto, account, [
        (MessageKind.REPORTED_CONFIG, answer(device_id, 3, 6, accepted=True)),
        (MessageKind.REPORTED_CONFIG, answer(device_id, 1, 60, accepted=True)),
        (MessageKind.TELEMETRY, reading),
    ])  # fmt: skip
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while not await storage.list_health_records(owner.id, HistoryQuery()):
        assert asyncio.get_running_loop().time() < deadline, "the reading was not stored"
        await asyncio.sleep(0.05)
    device = await wait_for_device(storage, owner.id, device_id, 3)
    assert (device.reported_accepted, device.reported_error, device.reported_at) == (
        True, None, T0 + timedelta(seconds=6),
    )  # fmt: skip
    assert device.reported_settings == {"telemetry_interval_s": 30, "cry_detection_enabled": True}


async def test_reported_config_of_an_unknown_device_is_a_dead_letter(
    collector: Collector, storage: Storage, mosquitto: MosquittoBroker
) -> None:
    device_id = f"unknown-{uuid.uuid4().hex[:8]}"
    account = create_account(mosquitto, device_id)
    raw = answer(device_id, 1, 0, accepted=True)
    await asyncio.to_thread(
        publish_as_device, mosquitto, account, [(MessageKind.REPORTED_CONFIG, raw)]
    )
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while True:
        letters = await storage.list_dead_letters()
        mine = [letter for letter in letters if letter.payload == raw]
        if mine:
            break
        assert asyncio.get_running_loop().time() < deadline, "no dead letter"
        await asyncio.sleep(0.05)
    assert [(letter.topic, letter.error) for letter in mine] == [
        (topic_for(device_id, MessageKind.REPORTED_CONFIG), "unknown device")
    ]
