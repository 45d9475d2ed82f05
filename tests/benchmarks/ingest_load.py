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
import psycopg
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.storage import PersistentStorage

from models.contract import MessageKind, Telemetry, subscription_filter, topic_for

SESSION_EXPIRY_S = 3600
PUBLISH_BURST = 200
PACE_S = 0.001
UNSPECIFIED_ERROR = 0x80  # MQTT 5 PUBACK reason code: not acknowledged as processed


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    """A service account's login (the collector's)."""

    host: str
    port: int
    username: str
    password: str

    def username_for(self, client_id: str) -> str:
        """The broker ties client ids to accounts (use_username_as_clientid): each consumer's
        session is its own instance account ``svc.collector.<client_id>``, same password."""
        return f"{self.username}.{client_id}"


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

    All connections are served by one asyncio loop: with a paho network thread per device the
    50 threads handing the GIL around made the publisher itself hold messages back for hundreds
    of milliseconds near 4,000 msg/s, which the latency phase counted against the collector.
    """
    return asyncio.run(_publish(host, port, devices, total, rate_per_s, live_ts))


async def _publish(host: str, port: int, devices: dict[str, str], total: int,
                   rate_per_s: float | None, live_ts: bool) -> float:  # fmt: skip
    clients, unacknowledged = [], []
    for device_id, password in devices.items():
        storage = PersistentStorage()  # holds each QoS 1 message until its PUBACK
        client = gmqtt.Client(device_id, persistent_storage=storage)
        client.set_auth_credentials(device_id, password)
        await client.connect(host, port, version=MQTTv50)
        clients.append((device_id, topic_for(device_id, MessageKind.TELEMETRY), client))
        unacknowledged.append(storage)
    fixed_ts = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.monotonic()
    index = 0
    while index < total:
        due = total if rate_per_s is None else int((time.monotonic() - started) * rate_per_s) + 1
        # At full speed, hand the loop back now and then so PUBACKs are read as they come.
        due = min(total, due, index + PUBLISH_BURST)
        while index < due:
            device_id, topic, client = clients[index % len(clients)]
            payload = Telemetry(
                device_id=device_id,
                seq=index // len(clients),
                ts=datetime.now(UTC) if live_ts else fixed_ts,
                temperature_c=20.0,
                humidity_pct=45.0,
            )
            client.publish(topic, payload.to_json(), qos=1)
            index += 1
        await asyncio.sleep(0 if rate_per_s is None else PACE_S)
    for storage in unacknowledged:
        await asyncio.wait_for(storage.wait_empty(), 120)
    elapsed = time.monotonic() - started
    for _device_id, _topic, client in clients:
        await client.disconnect()
    return total / elapsed


async def create_session(login: BrokerLogin, client_id: str, group: str) -> None:
    """Create a persistent session with the shared subscription, then leave: the broker queues
    everything published meanwhile for this client."""
    client = gmqtt.Client(client_id, clean_session=False, session_expiry_interval=SESSION_EXPIRY_S)
    client.set_auth_credentials(login.username_for(client_id), login.password)
    await client.connect(login.host, login.port, version=MQTTv50)
    client.subscribe(gmqtt.Subscription(subscription_filter(MessageKind.TELEMETRY, group), qos=1))
    await asyncio.sleep(0.5)
    await client.disconnect()


async def end_session(login: BrokerLogin, client_id: str) -> None:
    """Discard a drained consumer's persistent session, so that later phases do not pay for the
    broker queueing their traffic to a client that will never come back."""
    client = gmqtt.Client(client_id, clean_session=True, session_expiry_interval=0)
    client.set_auth_credentials(login.username_for(client_id), login.password)
    await client.connect(login.host, login.port, version=MQTTv50)
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
        try:
            await handle(topic, raw)
        except asyncio.CancelledError:
            # Handlers still queued when the measured count is reached are cancelled at the
            # end of the run; without a result gmqtt logs a traceback for each of them.
            return UNSPECIFIED_ERROR
        return 0

    client.on_message = on_message
    client.set_auth_credentials(login.username_for(client_id), login.password)
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

    def __init__(self, conn: psycopg.AsyncConnection[Any], target: int) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._target = target
        self.stored = 0

    async def handle(self, topic: str, raw: bytes) -> None:
        message = json.loads(raw)
        async with self._lock:
            if self.stored >= self._target:
                return  # measured: the rest of the backlog is only acknowledged
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
