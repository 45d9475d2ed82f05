"""The device receives the home's "not a cry" list over a real Mosquitto (``ignore/desired``,
retained, published by the API's account) and answers with a status at once."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.daemon import EdgeAgent
from edge.detection import LiveDetector, SoundLevelMeter
from edge.detection.sound_memory import SoundMemory
from edge.publish.mqtt_client import BrokerSettings
from models.contract import (
    DeviceSettings,
    MessageKind,
    Status,
    decode_message,
    topic_for,
)
from models.cry import CryDetector
from tests.harness.edge_parts import agent_parts
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.services import BrokerAccount, create_account
from tests.harness.sounds import ignore_list, vector

MARKED_AT = datetime(2026, 12, 7, 3, 14, 58, tzinfo=UTC)


def published_list(device_id: str, revision: int, *episode_ids: int) -> bytes:
    marks = ignore_list(
        device_id, revision, *episode_ids, marked_at=MARKED_AT, ts=datetime.now(UTC)
    )
    return marks.to_json()


def wait_for_status(
    watcher: ProbeClient, accept: Callable[[Status], bool], timeout_s: float = 20.0
) -> Status:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in list(watcher.messages):
            if message.topic.endswith("/status"):
                status = decode_message(message.topic, bytes(message.payload))
                assert isinstance(status, Status)
                if accept(status):
                    return status
        time.sleep(0.05)
    raise AssertionError("no such status")


def test_the_device_applies_a_new_list_reports_it_at_once_and_drops_bad_ones(
    mosquitto: MosquittoBroker,
    api_account: BrokerAccount,
    collector_account: BrokerAccount,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    device_id = f"ign-{uuid.uuid4().hex[:10]}"
    account = create_account(mosquitto, device_id)
    detector = CryDetector.from_manifest(None)
    assert detector.fingerprint_model is not None
    memory_path = tmp_path / "sound-memory.sqlite3"
    memory = SoundMemory(memory_path)
    # Episodes the device heard before: 5 by this model, 6 by a model it no longer runs.
    memory.remember_onset(5, MARKED_AT, detector.fingerprint_model, vector(1))
    memory.remember_onset(6, MARKED_AT, "0" * 64, vector(2))
    memory.close()
    parts = agent_parts(
        tmp_path,
        device_id=device_id,
        broker=BrokerSettings(mosquitto.host, mosquitto.port, account.username, account.password),
        live=LiveDetector(detector, DeviceSettings(), SoundLevelMeter(detector.sample_rate)),
        sound_memory_path=memory_path,
    )
    agent = EdgeAgent(parts)
    watcher = ProbeClient(
        f"watch-{device_id}", collector_account.username, collector_account.password
    )
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.subscribe(topic_for(device_id, MessageKind.STATUS))
    api = ProbeClient(f"api-{device_id}", api_account.username, api_account.password)
    api.connect(mosquitto.host, mosquitto.port)
    topic = topic_for(device_id, MessageKind.IGNORE_LIST)
    # Published before the device connects: the broker keeps it (retained) and hands it over.
    api.publish(topic, published_list(device_id, 1, 5), retain=True)
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        first = wait_for_status(watcher, lambda s: s.ignore_list_revision == 1)
        assert first.ignore_list_size == 1
        assert first.ignore_list_unknown == []
        assert first.ignore_list_changed_at is not None

        with caplog.at_level(logging.ERROR, logger="edge.publish.connection"):
            api.publish(topic, b"{not json", retain=True)
            # Right topic, another device's list: the ACL checks the topic, the device the body.
            api.publish(topic, published_list("someone-else", 9, 5), retain=True)
            deadline = time.monotonic() + 10.0
            while caplog.text.count("malformed list of sounds to ignore") < 2:
                assert time.monotonic() < deadline, caplog.text
                time.sleep(0.05)
        assert "does not match topic device" in caplog.text
        assert agent._sounds.status().revision == 1

        # A newer revision with more marks: one has a fingerprint of another model, one none.
        sent_at = time.time()
        api.publish(topic, published_list(device_id, 2, 6, 5, 1234), retain=True)
        second = wait_for_status(watcher, lambda s: s.ignore_list_revision == 2)
        # At once, not at the next heartbeat (DeviceSettings().status_interval_s is 60 s).
        assert time.time() - sent_at < 10.0
        assert second.ignore_list_size == 1
        assert sorted(second.ignore_list_unknown or []) == [6, 1234]
        # The heartbeat carries the list too.
        assert agent._reporter.status("online").ignore_list_revision == 2
    finally:
        agent.request_stop()
        runner.join(timeout=30.0)
        watcher.close()
        api.publish(topic, b"", retain=True)  # clear the retained list
        api.close()
    # Kept on the device: a restart starts with revision 2.
    kept = SoundMemory(memory_path).ignore_list()
    assert kept.revision == 2
    assert [mark.episode_id for mark in kept.marks if mark.fingerprint is not None] == [5]
