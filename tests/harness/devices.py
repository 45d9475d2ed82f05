"""Simulated device traffic for integration tests: numbered telemetry through the real broker."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from models.contract import MessageKind, Telemetry, topic_for
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.services import BrokerAccount

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
ACK_TIMEOUT_S = 60.0


def telemetry(device_id: str, seq: int) -> bytes:
    """Reading ``seq`` of ``device_id``; deterministic, so a re-send is byte-identical."""
    return Telemetry(
        device_id=device_id,
        seq=seq,
        ts=T0 + timedelta(seconds=seq),
        temperature_c=20.0 + (seq % 20) / 10,
        humidity_pct=45.0,
    ).to_json()


class DevicePublisher:
    """One device connection publishing QoS 1 messages, optionally paced."""

    def __init__(self, broker: MosquittoBroker, account: BrokerAccount, client_id: str) -> None:
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(account.username, account.password)
        self._client.max_inflight_messages_set(200)
        self._client.max_queued_messages_set(0)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def publish(self, topic: str, payloads: list[bytes], rate_per_s: float | None = None) -> None:
        """Publish all payloads and wait until the broker acknowledged every one."""
        infos = []
        started = time.monotonic()
        for index, payload in enumerate(payloads):
            if rate_per_s is not None:
                delay = started + index / rate_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            infos.append(self._client.publish(topic, payload, qos=1))
        for info in infos:
            info.wait_for_publish(ACK_TIMEOUT_S)
            assert info.is_published(), "broker did not acknowledge a message"

    def publish_telemetry(
        self, device_id: str, seqs: range, rate_per_s: float | None = None
    ) -> None:
        topic = topic_for(device_id, MessageKind.TELEMETRY)
        self.publish(topic, [telemetry(device_id, seq) for seq in seqs], rate_per_s)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
