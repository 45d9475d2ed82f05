"""Load generation and baseline consumers for the ingest benchmark (see bench_ingest.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gmqtt
import paho.mqtt.client as mqtt
import psycopg
from gmqtt.mqtt.constants import MQTTv50
from paho.mqtt.enums import CallbackAPIVersion

from models.contract import MessageKind, Telemetry, subscription_filter, topic_for

SESSION_EXPIRY_S = 3600


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    """A service account's login (the collector's)."""

    host: str
    port: int
    username: str
    password: str


def device_ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index:04d}" for index in range(count)]


def publish_load(
    host: str,
    port: int,
    devices: dict[str, str],
    total: int,
    rate_per_s: float | None,
    live_ts: bool,
) -> float:
    """Publish ``total`` readings round-robin over ``devices`` (id -> broker password), each
    device on its own connection with its own credentials, QoS 1, every one acknowledged.

    Runs in its own process, so the load does not share the consumer's interpreter. With
    ``live_ts`` each reading carries the time it was published (for latency); otherwise a fixed
    time (so re-runs are identical). Returns the achieved publish rate.
    """
    clients = {}
    for device_id, password in devices.items():
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=device_id,
            protocol=mqtt.MQTTv5,
        )  # fmt: skip
        client.username_pw_set(device_id, password)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect(host, port)
        client.loop_start()
        clients[device_id] = client
    order = list(devices)
    fixed_ts = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.monotonic()
    infos = []
    for index in range(total):
        if rate_per_s is not None:
            delay = started + index / rate_per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        device_id = order[index % len(order)]
        payload = Telemetry(
            device_id=device_id,
            seq=index // len(order),
            ts=datetime.now(UTC) if live_ts else fixed_ts,
            temperature_c=20.0,
            humidity_pct=45.0,
        )
        topic = topic_for(device_id, MessageKind.TELEMETRY)
        infos.append(clients[device_id].publish(topic, payload.to_json(), qos=1))
    for info in infos:
        info.wait_for_publish(120)
    elapsed = time.monotonic() - started
    for client in clients.values():
        client.disconnect()
        client.loop_stop()
    return total / elapsed


async def create_session(login: BrokerLogin, client_id: str, group: str) -> None:
    """Create a persistent session with the shared subscription, then leave: the broker queues
    everything published meanwhile for this client."""
    client = gmqtt.Client(client_id, clean_session=False, session_expiry_interval=SESSION_EXPIRY_S)
    client.set_auth_credentials(login.username, login.password)
    await client.connect(login.host, login.port, version=MQTTv50)
    client.subscribe(gmqtt.Subscription(subscription_filter(MessageKind.TELEMETRY, group), qos=1))
    await asyncio.sleep(0.5)
    await client.disconnect()


async def drain(
    login: BrokerLogin,
    client_id: str,
    handle: Callable[[str, bytes], Any],
    target: int,
    count: Callable[[], int],
    timeout_s: float = 600.0,
) -> float:
    """Reconnect to a queued session and time how long until ``count()`` reaches ``target``."""
    client = gmqtt.Client(
        client_id,
        clean_session=False,
        optimistic_acknowledgement=False,
        session_expiry_interval=SESSION_EXPIRY_S,
    )

    async def on_message(_c: gmqtt.Client, topic: str, raw: bytes, _q: int, _p: Any) -> int:
        await handle(topic, raw)
        return 0

    client.on_message = on_message
    client.set_auth_credentials(login.username, login.password)
    started = time.monotonic()
    await client.connect(login.host, login.port, version=MQTTv50)
    deadline = started + timeout_s
    while True:
        if count() >= target or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    await client.disconnect()
    return elapsed


class NaiveConsumer:
    """The baseline: parse, INSERT and COMMIT each message on its own, then acknowledge."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.stored = 0

    async def handle(self, topic: str, raw: bytes) -> None:
        message = json.loads(raw)
        async with self._lock:
            await self._conn.execute(
                "INSERT INTO readings (source, time, received_at, device_id, seq, temperature,"
                " humidity) VALUES ('device', %s, now(), %s, %s, %s, %s)"
                " ON CONFLICT (device_id, seq, time) DO NOTHING",
                (message["ts"], message["device_id"], message["seq"], message["temperature_c"],
                 message["humidity_pct"]),
            )  # fmt: skip
            await self._conn.commit()
            self.stored += 1


class CountingConsumer:
    """The MQTT ceiling: receive and acknowledge, nothing else."""

    def __init__(self) -> None:
        self.received = 0

    async def handle(self, topic: str, raw: bytes) -> None:
        self.received += 1
