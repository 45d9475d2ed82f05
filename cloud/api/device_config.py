"""Telling devices what the cloud wants them to hold: retained messages via the broker.

Two kinds, both published retained with QoS 1 as ``svc.api``: the device's settings
(``config/desired``, ``DesiredConfig``) and the home's "not a cry" marks (``ignore/desired``,
``IgnoreList``). The API stores a change (with a new revision) first, then publishes the whole
state. A device that is offline gets it from the broker when it reconnects; a device applies
each revision once (settings: answering on ``config/reported``; the ignore list: in its status).

When the broker is unreachable the latest message per device and kind is kept and sent on
reconnect (while this process runs); the stored revision is the truth either way (for the
ignore lists, cloud/api/ignore_list_sync.py sends what this queue lost). A message
older than one already handed over for the same device and kind is dropped: two requests can
finish their storage writes in one order and reach this publisher in the other, and the older
one must not become the retained message a device meets when it reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from datetime import UTC, datetime
from typing import Any, Literal

import gmqtt
from gmqtt.mqtt.constants import MQTTv50

from cloud.config import MqttSettings
from cloud.storage.records import IgnoreListState
from models.contract import (
    DELIVERY_POLICIES,
    DesiredConfig,
    Envelope,
    IgnoreList,
    IgnoreMark,
    MessageKind,
    SettingValue,
    kind_of,
    topic_for,
)

logger = logging.getLogger(__name__)

CONNECT_RETRY_S = 5.0

# (device id, kind): one pending message and one high-water revision each.
Slot = tuple[str, MessageKind]
# What happened to a message for a device: handed to the broker, queued until the broker is
# reachable, or no broker configured for this API (the device never gets it).
Delivery = Literal["sent", "queued", "not_configured"]


def ignore_list_message(state: IgnoreListState, now: datetime) -> IgnoreList:
    """The ``ignore/desired`` payload of a stored list: episode ids and dates only, newest
    first, ``seq`` = the list's revision."""
    return IgnoreList(
        device_id=state.device_id,
        seq=state.revision,
        ts=now,
        marks=[IgnoreMark(episode_id=m.episode_id, marked_at=m.marked_at) for m in state.marks],
    )


class DesiredConfigPublisher:
    def __init__(self, settings: MqttSettings, connect_retry_s: float = CONNECT_RETRY_S) -> None:
        self._settings = settings
        self._connect_retry_s = connect_retry_s
        # The broker replaces it with the account's name (use_username_as_clientid): several API
        # processes need an account each (docs/operations.md, "Scaling out").
        client_id = f"nursery-api-{socket.gethostname()}-{os.getpid()}"[:64]
        self._client = gmqtt.Client(client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._pending: dict[Slot, Envelope] = {}
        self._newest: dict[Slot, int] = {}
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
        return self._publish(message)

    def publish_ignore_list(self, state: IgnoreListState) -> bool:
        """Hand the device's whole ignore list to the broker connection; False when it is
        queued instead."""
        return self._publish(ignore_list_message(state, datetime.now(UTC)))

    def _publish(self, message: Envelope) -> bool:
        slot = (message.device_id, kind_of(message))
        newest = self._newest.get(slot)
        if newest is not None and message.seq < newest:
            logger.info(
                "not publishing %s revision %d of %s: revision %d went out already",
                slot[1].value, message.seq, message.device_id, newest,
            )  # fmt: skip
            return self._connected
        self._newest[slot] = message.seq
        if not self._connected:
            self._pending[slot] = message
            return False
        self._send(message)
        return True

    def _send(self, message: Envelope) -> None:
        kind = kind_of(message)
        policy = DELIVERY_POLICIES[kind]
        self._client.publish(
            topic_for(message.device_id, kind),
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
                    "cannot reach the broker %s:%s (%s); device settings and ignore lists "
                    "are queued",
                    mqtt.host,
                    mqtt.port,
                    exc,
                )
                await asyncio.sleep(self._connect_retry_s)

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, properties: Any) -> None:
        self._connected = True
        pending, self._pending = self._pending, {}
        for message in pending.values():
            self._send(message)
        logger.info("desired-state publisher connected; sent %d queued message(s)", len(pending))

    def _on_disconnect(
        self, client: gmqtt.Client, packet: Any, exc: Exception | None = None
    ) -> None:
        self._connected = False
        logger.warning("desired-state publisher lost the broker; gmqtt reconnects")
