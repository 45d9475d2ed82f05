"""Pushing device settings to devices: retained ``config/desired`` messages via the broker.

The API stores a settings change (with a new revision) first, then publishes it retained with
QoS 1 as ``svc.api``. A device that is offline gets it from the broker when it reconnects; a
device applies each revision once and answers on ``config/reported``. When the broker is
unreachable the latest message per device is kept and sent on reconnect (while this process
runs); the stored revision is the truth either way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from datetime import UTC, datetime
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50

from cloud.config import MqttSettings
from models.contract import (
    DELIVERY_POLICIES,
    DesiredConfig,
    MessageKind,
    SettingValue,
    topic_for,
)

logger = logging.getLogger(__name__)

CONNECT_RETRY_S = 5.0


class DesiredConfigPublisher:
    def __init__(self, settings: MqttSettings) -> None:
        self._settings = settings
        # The broker replaces it with the account's name (use_username_as_clientid): several API
        # processes need an account each (docs/operations.md, "Scaling out").
        client_id = f"nursery-api-{socket.gethostname()}-{os.getpid()}"[:64]
        self._client = gmqtt.Client(client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._pending: dict[str, DesiredConfig] = {}
        self._connected = False
        self._connector: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._connected

    async def start(self) -> None:
        """Connect in the background: the API serves even while the broker is down."""
        self._connector = asyncio.create_task(self._connect_until_up(), name="mqtt-connect")

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
        if self._connected:
            await self._client.disconnect()

    def publish(self, device_id: str, revision: int, settings: dict[str, SettingValue]) -> bool:
        """Hand the desired config to the broker connection; False when it is queued instead."""
        message = DesiredConfig(
            device_id=device_id, seq=revision, ts=datetime.now(UTC), settings=settings
        )
        if not self._connected:
            self._pending[device_id] = message
            return False
        self._send(message)
        return True

    def _send(self, message: DesiredConfig) -> None:
        policy = DELIVERY_POLICIES[MessageKind.DESIRED_CONFIG]
        self._client.publish(
            topic_for(message.device_id, MessageKind.DESIRED_CONFIG),
            message.to_json(),
            qos=policy.qos,
            retain=policy.retain,
        )

    async def _connect_until_up(self) -> None:
        mqtt = self._settings
        if mqtt.username:
            self._client.set_auth_credentials(mqtt.username, mqtt.password)
        tls: ssl.SSLContext | bool = False
        if mqtt.ca_file:
            tls = ssl.create_default_context(cafile=mqtt.ca_file)
        while True:
            try:
                await self._client.connect(mqtt.host, mqtt.port, ssl=tls, version=MQTTv50)
                return
            except (OSError, gmqtt.mqtt.handler.MQTTConnectError) as exc:
                logger.warning(
                    "cannot reach the broker %s:%s (%s); device settings are queued",
                    mqtt.host,
                    mqtt.port,
                    exc,
                )
                await asyncio.sleep(CONNECT_RETRY_S)

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, properties: Any) -> None:
        self._connected = True
        pending, self._pending = self._pending, {}
        for message in pending.values():
            self._send(message)
        logger.info("desired-config publisher connected; sent %d queued change(s)", len(pending))

    def _on_disconnect(
        self, client: gmqtt.Client, packet: Any, exc: Exception | None = None
    ) -> None:
        self._connected = False
        logger.warning("desired-config publisher lost the broker; gmqtt reconnects")
