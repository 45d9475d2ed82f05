"""A simulated device's reading travels broker → collector → PostgreSQL → API to its owner.

Everything on the path is real: Mosquitto with the project's ACL and per-device credentials, the
gmqtt collector acknowledging after commit, PostgreSQL, the API process with JWT auth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.api_process import running_api
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.network import free_port
from tests.harness.processes import ManagedProcess, console_script
from tests.harness.services import BrokerAccount, create_account

DEVICE_ID = "nursery-e2e-0001"
JWT_SECRET = "e2e-test-secret-that-is-long-enough-0123456789"
READINGS = 3


@pytest.fixture
def api_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with running_api(database_url, JWT_SECRET, tmp_path) as url:
        yield url


@pytest.fixture
def collector(
    database_url: str, mosquitto: MosquittoBroker, collector_account: BrokerAccount, tmp_path: Path
) -> Iterator[ManagedProcess]:
    process = ManagedProcess(
        [console_script("nursery-cloud"), "collector"],
        {
            "DATABASE_URL": database_url,
            "MQTT_HOST": mosquitto.host,
            "MQTT_PORT": str(mosquitto.port),
            "MQTT_USERNAME": collector_account.username,
            "MQTT_PASSWORD": collector_account.password,
            "NURSERY_COLLECTOR_CLIENT_ID": "collector-e2e-skeleton",
            "NURSERY_COLLECTOR_HTTP_PORT": str(free_port()),
        },
        tmp_path / "collector.log",
    )
    try:
        yield process
    finally:
        assert process.stop_cleanly(), process.output()


def _register_and_login(client: httpx.Client, email: str) -> dict[str, str]:
    password = "correct horse battery"
    registered = client.post("/auth/register", json={"email": email, "password": password})
    assert registered.status_code == 201, registered.text
    login = client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_reading_reaches_the_owner_through_real_services(
    api_url: str,
    collector: ManagedProcess,
    mosquitto: MosquittoBroker,
    database_url: str,
    tmp_path: Path,
) -> None:
    client = httpx.Client(base_url=api_url, timeout=10)
    owner = _register_and_login(client, "owner@example.com")
    stranger = _register_and_login(client, "stranger@example.com")
    device = create_account(mosquitto, DEVICE_ID)

    registered = ManagedProcess(
        [
            console_script("nursery-cloud"),
            "device",
            "register",
            DEVICE_ID,
            "--owner-email",
            "owner@example.com",
        ],
        {"DATABASE_URL": database_url},
        tmp_path / "register.log",
    )
    assert registered.wait(30) == 0, registered.output()

    simulator = ManagedProcess(
        [
            console_script("nursery-edge"),
            "simulate",
            "--device-id",
            DEVICE_ID,
            "--host",
            mosquitto.host,
            "--port",
            str(mosquitto.port),
            "--count",
            str(READINGS),
            "--interval",
            "1",
            "--state-dir",
            str(tmp_path / "device"),
        ],
        {"MQTT_PASSWORD": device.password},
        tmp_path / "simulator.log",
    )
    assert simulator.wait(60) == 0, simulator.output()

    deadline = time.monotonic() + 30
    records: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        response = client.get("/health/history", headers=owner)
        assert response.status_code == 200, response.text
        records = response.json()
        if len(records) >= READINGS:
            break
        time.sleep(0.2)
    assert len(records) == READINGS, f"history: {records}\ncollector:\n{collector.output()}"
    for record in records:
        assert record["source"] == "device"
        assert record["device_id"] == DEVICE_ID
        assert isinstance(record["temperature"], float)
        assert 15.0 < record["temperature"] < 26.0
        assert record["cry_detected"] is False

    assert client.get("/health/history", headers=stranger).json() == []
    assert client.get("/health/history").status_code == 401
