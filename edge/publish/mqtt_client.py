"""The device's MQTT connection (paho-mqtt 2.x): credentials, TLS, status and last will.

The broker learns the device is gone through the retained ``offline`` last will; on connect the
device replaces it with a retained ``online`` status.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from models.contract import DELIVERY_POLICIES, Envelope, MessageKind, Status, kind_of, topic_for

logger = logging.getLogger(__name__)


class MqttError(RuntimeError):
    """The broker could not be reached, refused us, or did not acknowledge in time."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    keepalive_s: int = 30
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5


class DeviceMqttClient:
    """Connects as one device and publishes contract payloads, waiting for the broker's ack."""

    def __init__(self, device_id: str, settings: BrokerSettings) -> None:
        self._device_id = device_id
        self._settings = settings
        self._connected = threading.Event()
        self._connect_result: ReasonCode | None = None
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=device_id,
            protocol=settings.protocol,
        )
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.ca_file:
            self._client.tls_set(ca_certs=settings.ca_file)
        self._client.on_connect = self._on_connect

    def connect(self, last_seq: int, timeout_s: float = 10.0) -> None:
        """Connect, register the offline last will and publish the retained online status."""
        will = Status(device_id=self._device_id, seq=max(last_seq, 0), ts=_now(), state="offline")
        status_policy = DELIVERY_POLICIES[MessageKind.STATUS]
        self._client.will_set(
            topic_for(self._device_id, MessageKind.STATUS),
            will.to_json(),
            qos=status_policy.qos,
            retain=status_policy.retain,
        )
        try:
            self._client.connect(
                self._settings.host, self._settings.port, self._settings.keepalive_s
            )
        except OSError as exc:
            raise MqttError(
                f"cannot reach broker {self._settings.host}:{self._settings.port}: {exc}"
            ) from exc
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close()
            reason = self._connect_result or "no answer"
            raise MqttError(f"broker did not accept the connection: {reason}")
        online = Status(device_id=self._device_id, seq=max(last_seq, 0), ts=_now(), state="online")
        self.publish(online)

    def publish(self, payload: Envelope, timeout_s: float = 10.0) -> None:
        """Publish with the kind's QoS/retain and block until the broker acknowledges it."""
        kind = kind_of(payload)
        policy = DELIVERY_POLICIES[kind]
        info = self._client.publish(
            topic_for(self._device_id, kind),
            payload.to_json(),
            qos=policy.qos,
            retain=policy.retain,
        )
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise MqttError(f"publish of {kind} seq {payload.seq} failed: {exc}") from exc
        if not info.is_published():
            raise MqttError(f"broker did not acknowledge {kind} seq {payload.seq} in {timeout_s}s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        self._connect_result = reason_code
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            return
        logger.info("connected to %s:%s", self._settings.host, self._settings.port)
        self._connected.set()


def _now() -> datetime:
    return datetime.now(UTC)
