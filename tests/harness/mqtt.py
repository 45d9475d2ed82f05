"""A paho MQTT 5 client for tests that need to see the broker's reason codes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

TIMEOUT_S = 10.0


class ProbeClient:
    """Records CONNACK, PUBACK and SUBACK reason codes so tests can assert on them."""

    def __init__(self, client_id: str, username: str | None, password: str | None) -> None:
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: ReasonCode | None = None
        self._connected = threading.Event()
        self._pubacks: dict[int, ReasonCode] = {}
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._acked = threading.Condition()
        self.messages: list[mqtt.MQTTMessage] = []
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, message: self.messages.append(message)
        self.disconnected = threading.Event()
        self.client.on_disconnect = lambda *_args: self.disconnected.set()

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        self.connack = rc
        self._connected.set()

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object
    ) -> None:
        with self._acked:
            self._pubacks[mid] = rc
            self._acked.notify_all()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, mid: int, rcs: list[ReasonCode], _p: object
    ) -> None:
        with self._acked:
            self._subacks[mid] = rcs
            self._acked.notify_all()

    def connect(self, host: str, port: int) -> ReasonCode:
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._connected.wait(TIMEOUT_S):
            raise TimeoutError("no CONNACK")
        assert self.connack is not None
        return self.connack

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._acked:
            if not self._acked.wait_for(lambda: info.mid in self._pubacks, TIMEOUT_S):
                raise TimeoutError(f"no PUBACK for {topic}")
            return self._pubacks[info.mid]

    def subscribe(self, topic: str) -> ReasonCode:
        _result, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        with self._acked:
            if not self._acked.wait_for(lambda: mid in self._subacks, TIMEOUT_S):
                raise TimeoutError(f"no SUBACK for {topic}")
            return self._subacks[mid][0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def probe(
    host: str, port: int, client_id: str, username: str | None, password: str | None
) -> Iterator[ProbeClient]:
    client = ProbeClient(client_id, username, password)
    try:
        yield client
    finally:
        client.close()


def retained_messages(
    host: str, port: int, username: str, password: str, topics: list[str]
) -> list[mqtt.MQTTMessage]:
    """What a client of this account gets on subscribing to ``topics`` now: their retained
    messages (as a device reconnecting would), waited for one per topic, then a moment more so
    that a second one per topic - which would be a bug - shows too."""
    client = ProbeClient(f"{username}-{uuid.uuid4().hex[:6]}", username, password)
    client.connect(host, port)
    try:
        for topic in topics:
            client.subscribe(topic)
        deadline = time.monotonic() + TIMEOUT_S
        while len(client.messages) < len(topics) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        client.close()
    return list(client.messages)
