"""The collector process: a gmqtt MQTT 5 subscriber that stores what devices send.

Delivery guarantee: the broker keeps a QoS 1 message until we PUBACK it. With
``optimistic_acknowledgement=False`` gmqtt sends the PUBACK only when our async handler returns,
and we return only after the row is committed, so a crash at any point before the commit leaves
the message with the broker, which redelivers it on reconnect (persistent session). The database
ignores a ``(device_id, seq)`` it already has, so redelivery never stores twice.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import UTC, datetime
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50, PubAckReasonCode

from cloud.collector.convert import telemetry_row
from cloud.config import CollectorSettings
from cloud.storage import Storage
from models.contract import ContractError, MessageKind, Telemetry, decode_message
from models.contract.topics import subscription_filter

logger = logging.getLogger(__name__)

QOS_AT_LEAST_ONCE = 1


class Collector:
    def __init__(self, settings: CollectorSettings, storage: Storage) -> None:
        self._settings = settings
        self._storage = storage
        self._client = gmqtt.Client(
            settings.client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=settings.session_expiry_s,
        )
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self.stored = 0

    async def start(self) -> None:
        mqtt = self._settings.mqtt
        if mqtt.username:
            self._client.set_auth_credentials(mqtt.username, mqtt.password)
        tls: ssl.SSLContext | bool = False
        if mqtt.ca_file:
            tls = ssl.create_default_context(cafile=mqtt.ca_file)
        await self._client.connect(mqtt.host, mqtt.port, ssl=tls, version=MQTTv50)

    async def stop(self) -> None:
        await self._client.disconnect()

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, properties: Any) -> None:
        # Subscribing on every (re)connect is harmless with a persistent session and needed
        # when the broker lost it.
        topic = subscription_filter(MessageKind.TELEMETRY, self._settings.share_group)
        client.subscribe(gmqtt.Subscription(topic, qos=QOS_AT_LEAST_ONCE))
        logger.info("collector connected, subscribed to %s", topic)

    async def _on_message(
        self, client: gmqtt.Client, topic: str, raw: bytes, qos: int, properties: Any
    ) -> int:
        received_at = datetime.now(UTC)
        try:
            payload = decode_message(topic, raw)
        except ContractError as exc:
            logger.warning("rejected message on %s: %s", topic, exc)
            return int(PubAckReasonCode.SUCCESS)
        if isinstance(payload, Telemetry):
            # Await first, then add: handlers run concurrently, and `x += await ...` would read
            # the counter before the await and lose other handlers' increments.
            inserted = await self._storage.store_telemetry([telemetry_row(payload, received_at)])
            self.stored += inserted
        return int(PubAckReasonCode.SUCCESS)


async def run_collector(settings: CollectorSettings, storage: Storage, stop: asyncio.Event) -> None:
    collector = Collector(settings, storage)
    await collector.start()
    try:
        await stop.wait()
    finally:
        await collector.stop()
