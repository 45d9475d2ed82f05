"""Alarm delay benchmark: a device's cry event publish -> the alert on a caregiver's WebSocket,
and -> the push request accepted by the caregiver's phone's push service (Web Push).

    .venv/bin/python -m tests.benchmarks.bench_alarm [--events 60] [--load-rate 1000]

Real processes, as deployed: a private Mosquitto with the project's configuration, a fresh
PostgreSQL database, ``nursery-cloud collector`` and ``nursery-cloud api``. One device publishes
``cry_started`` events (QoS 1, a fresh ``ts`` each) and a caregiver's WebSocket times their
arrival; the nursery's alarm cooldown is 0 so every event raises an alert. Measured idle and
under a background of telemetry from 50 other devices at ``--load-rate`` messages/s (published
by a separate process).

Baselines, measured in the same run: for the WebSocket, the same events' publish -> arrival at a
bare MQTT subscriber on the same broker (the transport floor every alert pays before validation,
the commit, NOTIFY and the WebSocket); for Web Push, the WebSocket delivery of the same events
(both leave the API process from the same dispatch step; push adds the delivery row's claim, the
RFC 8291 encryption, the VAPID signature and an HTTP request). The push service is local
(tests/harness/push_service.py, which decrypts and checks every request): a real one adds the
internet round trip to FCM, Mozilla or Apple. Targets (WebSocket): p99 <= 250 ms idle, <= 500 ms
under load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import websockets
from paho.mqtt.enums import CallbackAPIVersion

from cloud.api.security import PasswordHasher
from cloud.push.keys import generate_vapid_keys
from cloud.storage import open_storage
from models.contract import Event, MessageKind, topic_for
from tests.benchmarks.ingest_load import publish_load
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.network import free_port
from tests.harness.postgres import fresh_database
from tests.harness.processes import ManagedProcess, console_script
from tests.harness.push_api import push_env
from tests.harness.push_service import BrowserSubscription, LocalPushService

BASELINE_ACCOUNT = "svc.collector.baseline"
ALARM_DEVICE = "bench-alarm"
OWNER = "bench-owner@example.com"
PASSWORD = "benchPassword123"
SECRET = "bench-alarm-secret-0123456789-abcdefghijklmnop"
TARGETS_MS = {"idle": 250.0, "under load": 500.0}


@dataclass
class Services:
    broker: MosquittoBroker
    database_url: str
    api: str
    devices: dict[str, str]
    collector_password: str
    push_service: LocalPushService
    phone: BrowserSubscription


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def prepare(database_url: str, load_devices: list[str]) -> None:
    storage = await open_storage(database_url)
    try:
        await storage.migrate()
        owner = await storage.create_user(OWNER, PasswordHasher().hash(PASSWORD), "Bench")
        await storage.register_device(ALARM_DEVICE, owner.id)
        # Every event alarms (no cooldown), and none escalates during the run.
        await storage.set_device_settings(
            ALARM_DEVICE, {"alarm_cooldown_s": 0.0, "cry_escalate_after_s": 3600.0}
        )
        for device_id in load_devices:
            await storage.register_device(device_id, None)
    finally:
        await storage.close()


@contextmanager
def services(stack: ExitStack, load_devices: int) -> Iterator[Services]:
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    broker = MosquittoBroker(workdir / "broker")
    broker.start()
    stack.callback(broker.stop)
    collector_password = secrets.token_urlsafe(16)
    devices = {f"bench-load-{i:03d}": secrets.token_urlsafe(16) for i in range(load_devices)}
    broker.add_users(
        # The baseline subscriber is a connection of its own: an instance account (the broker
        # ties client ids to accounts).
        {
            "svc.collector": collector_password,
            BASELINE_ACCOUNT: collector_password,
            ALARM_DEVICE: "alarm-password",
            **devices,
        }
    )
    database_url = stack.enter_context(fresh_database())
    asyncio.run(prepare(database_url, list(devices)))
    collector = ManagedProcess(
        [console_script("nursery-cloud"), "collector"],
        {"DATABASE_URL": database_url, "MQTT_HOST": broker.host, "MQTT_PORT": str(broker.port),
         "MQTT_USERNAME": "svc.collector", "MQTT_PASSWORD": collector_password,
         "NURSERY_COLLECTOR_HTTP_PORT": "0", "NURSERY_COLLECTOR_CLIENT_ID": "bench-collector"},
        workdir / "collector.log",
    )  # fmt: skip
    stack.callback(collector.stop_cleanly)
    keys = generate_vapid_keys()
    push_service = stack.enter_context(LocalPushService(application_server_key=keys.public_key))
    port = free_port()
    api = ManagedProcess(
        [console_script("nursery-cloud"), "--log-level", "WARNING", "api", "--port", str(port)],
        {"DATABASE_URL": database_url, "JWT_SECRET": SECRET,
         "NURSERY_UPLOAD_DIR": str(workdir / "uploads"), **push_env(keys)},
        workdir / "api.log",
    )  # fmt: skip
    stack.callback(api.stop_cleanly)
    api.wait_for_port(port)
    url = f"http://127.0.0.1:{port}"
    phone = push_service.subscribe()
    asyncio.run(register_phone(url, phone))
    time.sleep(2.0)  # the collector's subscription is in place
    yield Services(broker, database_url, url, devices, collector_password, push_service, phone)


async def register_phone(api: str, phone: BrowserSubscription) -> None:
    """The owner's phone subscribes for push, as the dashboard does."""
    async with httpx.AsyncClient(base_url=api) as http:
        login = (await http.post("/auth/login", json={"email": OWNER, "password": PASSWORD})).json()
        registered = await http.post(
            "/push/subscriptions",
            headers={"Authorization": f"Bearer {login['access_token']}"},
            json=phone.to_json(),
        )
    registered.raise_for_status()


def push_delays(env: Services, start: int, events: int, timeout_s: float = 10.0) -> list[float]:
    """Event time -> the push service took the request (ms), for the alarms after the first
    ``start`` pushes: the alert's ``time`` in the decrypted payload is the device's ``ts``, set
    at publish."""
    with contextlib.suppress(TimeoutError):
        env.push_service.wait_for(
            lambda _requests: len(env.push_service.accepted(env.phone)) >= start + events,
            timeout_s,
        )
    delays = []
    for request in env.push_service.accepted(env.phone)[start:]:
        assert request.payload is not None
        sent = datetime.fromisoformat(request.payload["alert"]["time"])
        delays.append((request.received_at - sent.timestamp()) * 1000)
    return delays


class BaselineSubscriber:
    """A bare MQTT subscriber to the alarm device's events: the transport floor."""

    def __init__(self, env: Services) -> None:
        self.delays_ms: list[float] = []
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-baseline",
            protocol=mqtt.MQTTv5,
        )  # fmt: skip
        self._client.username_pw_set(BASELINE_ACCOUNT, env.collector_password)
        self._client.on_message = self._on_message
        self._client.connect(env.broker.host, env.broker.port)
        self._client.subscribe(topic_for(ALARM_DEVICE, MessageKind.EVENT), qos=1)
        self._client.loop_start()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        sent = datetime.fromisoformat(json.loads(msg.payload)["ts"])
        self.delays_ms.append((datetime.now(UTC) - sent).total_seconds() * 1000)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


async def measure(env: Services, events: int, spacing_s: float, seq0: int) -> list[float]:
    """Publish ``events`` cries; the delays (ms) until each reached the caregiver's socket."""
    async with httpx.AsyncClient(base_url=env.api) as http:
        login = (await http.post("/auth/login", json={"email": OWNER, "password": PASSWORD})).json()
    url = env.api.replace("http://", "ws://") + f"/ws/{login['user']['id']}?token="
    delays: list[float] = []
    all_arrived = asyncio.Event()
    device = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=ALARM_DEVICE,
        protocol=mqtt.MQTTv5,
    )  # fmt: skip
    device.username_pw_set(ALARM_DEVICE, "alarm-password")
    device.connect(env.broker.host, env.broker.port)
    device.loop_start()
    async with websockets.connect(url + login["access_token"]) as socket:

        async def receive() -> None:
            async for raw in socket:
                message = json.loads(raw)
                if message["event"] == "CRY_DETECTED":
                    sent = datetime.fromisoformat(message["times"]["event"])
                    delays.append((datetime.now(UTC) - sent).total_seconds() * 1000)
                    if len(delays) == events:
                        all_arrived.set()

        reader = asyncio.create_task(receive())
        for index in range(events):
            seq = seq0 + index
            event = Event(device_id=ALARM_DEVICE, seq=seq, ts=datetime.now(UTC),
                          kind="cry_started", episode_id=seq, confidence=0.9)  # fmt: skip
            device.publish(topic_for(ALARM_DEVICE, MessageKind.EVENT), event.to_json(), qos=1)
            await asyncio.sleep(spacing_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_arrived.wait(), 10)
        reader.cancel()
    device.disconnect()
    device.loop_stop()
    return delays


def background_load(env: Services, rate: float, seconds: float) -> threading.Thread:
    """Telemetry at ``rate`` messages/s from a separate process, for ``seconds``."""
    total = int(rate * seconds)
    context = multiprocessing.get_context("spawn")

    def run() -> None:
        with context.Pool(1) as pool:
            achieved = pool.apply(
                publish_load, (env.broker.host, env.broker.port, env.devices, total, rate, True)
            )
        print(f"background load: {total} readings at {achieved:.0f}/s achieved")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60, help="cry events per scenario")
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between events")
    parser.add_argument("--load-rate", type=float, default=1000.0, help="telemetry/s under load")
    parser.add_argument("--load-devices", type=int, default=50)
    args = parser.parse_args()
    rows: list[Row] = []
    with ExitStack() as stack:
        env = stack.enter_context(services(stack, args.load_devices))
        for scenario in ("idle", "under load"):
            baseline = BaselineSubscriber(env)
            load = None
            if scenario == "under load":
                load = background_load(env, args.load_rate, args.events * args.spacing + 8)
                time.sleep(3.0)  # the load is flowing before the first alarm
            seq0 = 1 if scenario == "idle" else 1_000_000
            pushed_before = len(env.push_service.accepted(env.phone))
            delays = asyncio.run(measure(env, args.events, args.spacing, seq0))
            pushed = push_delays(env, pushed_before, args.events)
            baseline.close()
            if load is not None:
                load.join()
            rows.append(Row(scenario, "WebSocket", delays, "MQTT sub", baseline.delays_ms))
            rows.append(Row(scenario, "Web Push", pushed, "WebSocket", delays))
        rejected = env.push_service.rejected()
    print()
    print(f"alarm delay, device publish -> caregiver ({args.events} events each)")
    print_table(rows)
    if rejected:
        print(f"push service refused {len(rejected)} requests: {rejected[0].rejected}")


@dataclass
class Row:
    scenario: str
    path: str
    delays_ms: list[float]
    baseline: str
    baseline_ms: list[float]


def print_table(rows: list[Row]) -> None:
    header = ("scenario", "path", "received", "p50 ms", "p99 ms", "baseline", "base p50",
              "base p99", "p99 ratio", "target p99", "met")  # fmt: skip
    line = "{:<11} {:<9} {:>8} {:>7} {:>7} {:<9} {:>8} {:>8} {:>9} {:>10} {:>4}"
    print(line.format(*header))
    for row in rows:
        if not row.delays_ms or not row.baseline_ms:
            print(line.format(row.scenario, row.path, len(row.delays_ms), *["-"] * 8))
            continue
        p50, p99 = percentile(row.delays_ms, 50), percentile(row.delays_ms, 99)
        b50, b99 = percentile(row.baseline_ms, 50), percentile(row.baseline_ms, 99)
        # The targets are the WebSocket's (the path a screen that is open takes).
        target = TARGETS_MS[row.scenario] if row.path == "WebSocket" else None
        met = "-" if target is None else ("yes" if p99 <= target else "NO")
        print(line.format(
            row.scenario, row.path, len(row.delays_ms), f"{p50:.1f}", f"{p99:.1f}", row.baseline,
            f"{b50:.1f}", f"{b99:.1f}", f"{p99 / b99:.1f}x",
            "-" if target is None else f"{target:.0f}", met,
        ))  # fmt: skip


if __name__ == "__main__":
    main()
