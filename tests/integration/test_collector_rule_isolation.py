"""One nursery's bad settings must not cost another nursery its data or its alarms (issue 27,
finding 2), through the real broker and database with the collector in-process.

The poisoned settings are written straight into the database, as an older version let the API
store them: a grace period of 1e300 s once made the rules' time arithmetic overflow, which failed
every batch holding that device's readings (other devices' readings in the batch were neither
stored nor acknowledged) and ended the periodic offline check for every device.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.collector import Collector
from cloud.collector.http import build_ops_app
from cloud.collector.supervisor import RestartPolicy
from cloud.config import ApiSettings, CollectorSettings, MqttSettings
from cloud.storage import Storage
from cloud.storage.records import AlertQuery, HistoryQuery, StoredAlert
from models.contract import MessageKind, Status, Telemetry, topic_for
from tests.harness.api import API_TEST_SECRET
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.services import BrokerAccount, create_account
from tests.integration.conftest import backend_url

POISON = "1e300"
TIMEOUT_S = 15.0


@pytest.fixture
def write_settings(
    request: pytest.FixtureRequest, storage: Storage, database_url: str, tmp_path: Path
) -> Callable[[str, str], None]:
    """Store a device's nursery settings as raw JSON text, bypassing every check."""
    backend = request.node.callspec.params["storage"]

    def write(device_id: str, document: str) -> None:
        if backend != "sqlite":  # PostgreSQL, with or without TimescaleDB
            url = backend_url(request, backend, tmp_path / "nursery.db")
            with psycopg.connect(url) as postgres:
                postgres.execute(
                    "UPDATE devices SET settings = %s::jsonb WHERE device_id = %s",
                    (document, device_id),
                )
        else:
            lite = sqlite3.connect(tmp_path / "nursery.db")
            with lite:  # commits
                lite.execute(
                    "UPDATE devices SET settings = ? WHERE device_id = ?", (document, device_id)
                )
            lite.close()

    return write


@pytest.fixture
async def quick_collector(
    storage: Storage,
    database_url: str,
    mosquitto: MosquittoBroker,
    collector_account: BrokerAccount,
) -> AsyncIterator[Collector]:
    """A collector with a fast offline check, a batch delay that puts the devices' readings in
    one batch, and quick restarts."""
    settings = CollectorSettings(
        database_url=database_url,
        mqtt=MqttSettings(
            mosquitto.host, mosquitto.port, collector_account.username, collector_account.password
        ),
        client_id=f"isolation-{uuid.uuid4().hex[:8]}",
        share_group=f"g{uuid.uuid4().hex[:8]}",
        batch_max_delay_s=0.5,
        offline_check_interval_s=0.2,
        http_port=0,
    )
    policy = RestartPolicy(
        initial_backoff_s=0.2, max_backoff_s=0.5, crash_loop_restarts=1, crash_loop_window_s=3.0
    )
    collector = Collector(settings, storage, restart_policy=policy)
    await collector.start()
    await asyncio.sleep(0.3)  # let the SUBSCRIBE be acknowledged before devices publish
    try:
        yield collector
    finally:
        await collector.stop()


async def _nursery(
    storage: Storage, mosquitto: MosquittoBroker
) -> tuple[int, list[str], dict[str, BrokerAccount]]:
    """An owner with a device to poison and a healthy one, each with its broker account (made
    one after the other: mosquitto_passwd rewrites the whole file, so concurrent additions can
    lose accounts)."""
    tag = uuid.uuid4().hex[:8]
    owner = await storage.create_user(f"iso-{tag}@example.com", "hash", None)
    devices = [f"iso-bad-{tag}", f"iso-good-{tag}"]
    accounts = {}
    for device_id in devices:
        await storage.register_device(device_id, owner.id)
        accounts[device_id] = await asyncio.to_thread(create_account, mosquitto, device_id)
    return owner.id, devices, accounts


def _publish(
    mosquitto: MosquittoBroker, account: BrokerAccount, kind: MessageKind, raws: list[bytes]
) -> None:
    device_id = account.username
    with probe(
        mosquitto.host, mosquitto.port, device_id, account.username, account.password
    ) as device:
        device.connect(mosquitto.host, mosquitto.port)
        for raw in raws:
            assert not device.publish(topic_for(device_id, kind), raw).is_failure


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {TIMEOUT_S:.0f} s: {what}")
        await asyncio.sleep(0.1)


def _in_flight(collector: Collector) -> float:
    return collector.metrics.registry.get_sample_value("nursery_collector_in_flight") or 0.0


async def _alerts(storage: Storage, owner_id: int, device_id: str, kind: str) -> list[Any]:
    return await storage.list_user_alerts(owner_id, AlertQuery(device_id=device_id, kind=kind))


async def test_a_poisoned_device_does_not_stop_the_others_readings_or_alerts(
    quick_collector: Collector,
    storage: Storage,
    mosquitto: MosquittoBroker,
    write_settings: Callable[[str, str], None],
) -> None:
    owner_id, (bad, good), accounts = await _nursery(storage, mosquitto)
    write_settings(bad, f'{{"climate_grace_s": {POISON}, "alarm_cooldown_s": {POISON}}}')
    write_settings(good, '{"climate_grace_s": 0}')
    now = datetime.now(UTC)

    def readings(device_id: str) -> list[bytes]:
        return [
            Telemetry(
                device_id=device_id, seq=seq, ts=now + timedelta(seconds=seq), temperature_c=30.0,
                humidity_pct=50.0,
            ).to_json()
            for seq in range(5)
        ]  # fmt: skip

    await asyncio.gather(
        asyncio.to_thread(_publish, mosquitto, accounts[bad], MessageKind.TELEMETRY, readings(bad)),
        asyncio.to_thread(
            _publish, mosquitto, accounts[good], MessageKind.TELEMETRY, readings(good)
        ),
    )

    async def all_stored() -> bool:
        records = await storage.list_health_records(owner_id, HistoryQuery(limit=100))
        return sorted(str(r.device_id) for r in records) == sorted([bad] * 5 + [good] * 5)

    await _eventually(all_stored, "both devices' readings stored")

    async def acknowledged() -> bool:
        return _in_flight(quick_collector) == 0

    await _eventually(acknowledged, "every message acknowledged")
    assert await _alerts(storage, owner_id, good, "CLIMATE_OUT_OF_RANGE")
    # The poisoned device's stored value was clamped (to an hour), so its data and rules work.
    assert not await _alerts(storage, owner_id, bad, "CLIMATE_OUT_OF_RANGE")


async def _go_offline(
    storage: Storage, mosquitto: MosquittoBroker, accounts: dict[str, BrokerAccount]
) -> None:
    """Each device reports online, then (once that is stored) offline."""
    for state in ("online", "offline"):
        now = datetime.now(UTC)
        statuses = {
            device_id: [Status(device_id=device_id, seq=0, ts=now, state=state).to_json()]
            for device_id in accounts
        }
        await asyncio.gather(
            *(
                asyncio.to_thread(
                    _publish, mosquitto, accounts[device_id], MessageKind.STATUS, raws
                )
                for device_id, raws in statuses.items()
            )
        )

        async def applied(state: str = state) -> bool:
            states = [await storage.get_device_state(d) for d in accounts]
            return all(s is not None and s.online == (state == "online") for s in states)

        await _eventually(applied, f"devices {state}")


async def test_a_poisoned_device_does_not_stop_device_offline_alerts_for_the_others(
    quick_collector: Collector,
    storage: Storage,
    mosquitto: MosquittoBroker,
    write_settings: Callable[[str, str], None],
) -> None:
    owner_id, (bad, good), accounts = await _nursery(storage, mosquitto)
    write_settings(bad, f'{{"offline_grace_s": {POISON}}}')
    write_settings(good, '{"offline_grace_s": 0}')
    await _go_offline(storage, mosquitto, accounts)

    async def good_alerted() -> bool:
        return bool(await _alerts(storage, owner_id, good, "DEVICE_OFFLINE"))

    await _eventually(good_alerted, "DEVICE_OFFLINE for the healthy device")
    assert not await _alerts(storage, owner_id, bad, "DEVICE_OFFLINE")  # clamped to a day
    assert quick_collector.readiness().problems == {}


async def _ops(collector: Collector, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=build_ops_app(collector.metrics, collector.readiness))
    async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
        return await client.get(path)


async def test_a_crashing_offline_check_is_restarted_and_reported(
    quick_collector: Collector,
    storage: Storage,
    mosquitto: MosquittoBroker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fault no validation foresaw (fault injection: the storage call itself is real once the
    # fault is gone): the check raises something other than a storage error three times.
    real_check = storage.check_offline
    crashes = 0

    async def crashing_check(now: datetime) -> list[StoredAlert]:
        nonlocal crashes
        if crashes < 3:
            crashes += 1
            raise OverflowError("date value out of range")
        return await real_check(now)

    monkeypatch.setattr(storage, "check_offline", crashing_check)

    async def reported() -> bool:
        answer = await _ops(quick_collector, "/readyz")
        return answer.status_code == 503 and "OverflowError" in str(answer.json()["problems"])

    await _eventually(reported, "/readyz 503 naming the crashed offline check")
    metrics = (await _ops(quick_collector, "/metrics")).text
    assert 'nursery_collector_task_restarts_total{task="offline_check"}' in metrics
    assert 'nursery_collector_task_restarts_total{task="escalation"} 0.0' in metrics

    # Restarted, the check works again: a device that goes offline is announced ...
    owner_id, (_unused, good), accounts = await _nursery(storage, mosquitto)
    await storage.update_device_settings(owner_id, good, {"offline_grace_s": 0}, None)
    await _go_offline(storage, mosquitto, {good: accounts[good]})

    async def alerted() -> bool:
        return bool(await _alerts(storage, owner_id, good, "DEVICE_OFFLINE"))

    await _eventually(alerted, "DEVICE_OFFLINE once the check runs again")
    assert crashes == 3
    restarts = quick_collector.metrics.registry.get_sample_value(
        "nursery_collector_task_restarts_total", {"task": "offline_check"}
    )
    assert restarts == 3

    # ... and once the crashes are out of the window the collector is ready again.
    async def ready() -> bool:
        return (await _ops(quick_collector, "/readyz")).status_code == 200

    await _eventually(ready, "/readyz 200 after the crash loop calmed down")


def test_the_api_readiness_reports_its_embedded_collectors_crashed_task(
    mosquitto: MosquittoBroker,
    collector_account: BrokerAccount,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`nursery-cloud serve` (API and collector in one process, SQLite): the API's /readyz is
    what the orchestrator watches, so a dead collector task must show there."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    api_settings = ApiSettings(
        database_url=url, jwt_secret=API_TEST_SECRET, upload_dir=str(tmp_path / "uploads")
    )
    collector_settings = CollectorSettings(
        database_url=url,
        mqtt=MqttSettings(
            mosquitto.host, mosquitto.port, collector_account.username, collector_account.password
        ),
        client_id=f"serve-{uuid.uuid4().hex[:8]}",
        share_group=f"g{uuid.uuid4().hex[:8]}",
        offline_check_interval_s=0.2,
        http_port=0,
    )
    with TestClient(create_app(api_settings, collector_settings)) as client:
        storage = client.app.state.services.storage  # type: ignore[attr-defined]

        async def crashing_check(now: datetime) -> list[StoredAlert]:
            raise OverflowError("date value out of range")

        monkeypatch.setattr(storage, "check_offline", crashing_check)
        deadline = time.monotonic() + TIMEOUT_S
        answer = client.get("/readyz")
        while answer.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            answer = client.get("/readyz")
        assert answer.status_code == 503, answer.text
        assert "OverflowError" in answer.json()["collector_problems"]["task offline_check"]
        assert answer.json()["database"] is True
