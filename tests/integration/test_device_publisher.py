"""What the API publishes to devices (cloud/api/device_config.py), as a device receives it from a
real Mosquitto: the desired config and the "not a cry" ignore list, retained, each the latest
revision - also when they were changed while the broker was away, and when an older revision
reaches the publisher after a newer one."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloud.api.device_config import DesiredConfigPublisher
from cloud.config import MqttSettings
from cloud.storage.records import IgnoreListState, NotACryMark
from models.contract import (
    DesiredConfig,
    Envelope,
    IgnoreList,
    IgnoreMark,
    MessageKind,
    decode_message,
    kind_of,
    topic_for,
)
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import retained_messages
from tests.harness.services import BrokerAccount, create_account, create_instance_account

MARKED_AT = datetime(2026, 12, 6, 21, 30, tzinfo=UTC)


def ignore_list(device_id: str, revision: int, *episodes: int) -> IgnoreListState:
    marks = [
        NotACryMark(device_id, episode, MARKED_AT - timedelta(minutes=n), 1, "Ana")
        for n, episode in enumerate(episodes)
    ]
    return IgnoreListState(device_id, revision, marks)


def retained(
    broker: MosquittoBroker, device: BrokerAccount, kinds: list[MessageKind]
) -> dict[MessageKind, Envelope]:
    """What the device gets when it subscribes now, as itself (its ACL), by kind."""
    topics = [topic_for(device.username, kind) for kind in kinds]
    messages = retained_messages(broker.host, broker.port, device.username, device.password, topics)
    received: dict[MessageKind, Envelope] = {}
    for message in messages:
        assert message.retain, message.topic
        payload = decode_message(message.topic, bytes(message.payload))
        kind = kind_of(payload)
        assert kind not in received, f"two retained {kind} messages"
        received[kind] = payload
    return received


async def until_connected(publisher: DesiredConfigPublisher, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not publisher.connected:
        assert time.monotonic() < deadline, "the publisher never reached the broker"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the queued messages are written on connect; let the broker take them


async def test_changes_made_while_the_broker_is_away_reach_the_device_once_it_is_back(
    tmp_path: Path,
) -> None:
    broker = MosquittoBroker(tmp_path / "broker")
    api = create_instance_account(broker, "api", uuid.uuid4().hex[:8])
    device = create_account(broker, f"nursery-{uuid.uuid4().hex[:8]}")
    other = create_account(broker, f"nursery-{uuid.uuid4().hex[:8]}")
    settings = MqttSettings(broker.host, broker.port, api.username, api.password)
    publisher = DesiredConfigPublisher(settings, connect_retry_s=0.2)
    await publisher.start()
    try:
        # The broker is down: everything is queued, the latest per device and kind.
        assert publisher.publish(device.username, 1, {"cry_sensitivity": 0.5}) is False
        assert publisher.publish(device.username, 2, {"cry_sensitivity": 0.6}) is False
        assert publisher.publish_ignore_list(ignore_list(device.username, 3, 11, 7)) is False
        assert publisher.publish_ignore_list(ignore_list(device.username, 4, 7)) is False
        # An older revision arriving late changes nothing.
        assert publisher.publish_ignore_list(ignore_list(device.username, 2, 5)) is False
        assert publisher.publish_ignore_list(ignore_list(other.username, 1, 30)) is False

        broker.start()
        await until_connected(publisher)
        both = [MessageKind.DESIRED_CONFIG, MessageKind.IGNORE_LIST]
        got = await asyncio.to_thread(retained, broker, device, both)
        config, marks = got[MessageKind.DESIRED_CONFIG], got[MessageKind.IGNORE_LIST]
        assert isinstance(config, DesiredConfig)
        assert (config.seq, config.settings) == (2, {"cry_sensitivity": 0.6})
        assert isinstance(marks, IgnoreList)
        assert (marks.seq, marks.marks) == (4, [IgnoreMark(episode_id=7, marked_at=MARKED_AT)])
        other_got = await asyncio.to_thread(retained, broker, other, [MessageKind.IGNORE_LIST])
        other_marks = other_got[MessageKind.IGNORE_LIST]
        assert isinstance(other_marks, IgnoreList)
        assert [m.episode_id for m in other_marks.marks] == [30]

        # Connected: sent at once; a cleared list is the empty list, not nothing.
        assert publisher.publish_ignore_list(ignore_list(device.username, 5)) is True
        assert publisher.publish_ignore_list(ignore_list(device.username, 4, 7, 8)) is True
        await asyncio.sleep(0.3)
        got = await asyncio.to_thread(retained, broker, device, [MessageKind.IGNORE_LIST])
        cleared = got[MessageKind.IGNORE_LIST]
        assert isinstance(cleared, IgnoreList)
        assert (cleared.seq, cleared.marks) == (5, [])
    finally:
        await publisher.stop()
        broker.stop()
