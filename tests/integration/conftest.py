"""Integration fixtures: every storage-backed test runs against each backend; an in-process
collector and an in-process API on top of that storage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.collector import Collector
from cloud.config import ApiSettings, CollectorSettings, MqttSettings, ProvisioningSettings
from cloud.storage import Storage, open_storage
from tests.harness.api import API_TEST_SECRET, Api
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.services import create_instance_account

# The storage backends every storage-backed test runs on. TimescaleDB is PostgreSQL with the
# extension preloaded and migration 0003 applied: the production database.
BACKENDS = ["postgres", "timescaledb", "sqlite"]
# The session fixture (tests/conftest.py) holding each PostgreSQL backend's database. Looked up
# only when a test of that backend runs, so a TimescaleDB cluster starts only if needed.
_SERVER_URL_FIXTURES = {"postgres": "database_url", "timescaledb": "timescaledb_url"}


def backend_url(request: pytest.FixtureRequest, backend: str, sqlite_file: Path) -> str:
    """The database URL of one backend of the matrix (a new SQLite file at ``sqlite_file``)."""
    if backend == "sqlite":
        return f"sqlite:///{sqlite_file}"
    return str(request.getfixturevalue(_SERVER_URL_FIXTURES[backend]))


def provisioning_settings(mosquitto: MosquittoBroker) -> ProvisioningSettings:
    """Provisioning writes device accounts into the test broker's own password file."""
    return ProvisioningSettings(
        password_file=str(mosquitto.password_file),
        pid_file=str(mosquitto.pid_file),
        device_host=mosquitto.host,
        device_port=mosquitto.port,
    )


def api_settings(url: str, mosquitto: MosquittoBroker, tmp_path: Path) -> ApiSettings:
    """An API on ``url`` with the broker: a broker account of its own, so that tests may probe
    the broker as svc.api alongside it (and two APIs may run on one broker)."""
    api_account = create_instance_account(mosquitto, "api", uuid.uuid4().hex[:8])
    return ApiSettings(
        database_url=url,
        jwt_secret=API_TEST_SECRET,
        upload_dir=str(tmp_path / "uploads"),
        mqtt=MqttSettings(
            mosquitto.host, mosquitto.port, api_account.username, api_account.password
        ),
        provisioning=provisioning_settings(mosquitto),
    )


@asynccontextmanager
async def migrated_storage(url: str) -> AsyncIterator[Storage]:
    store = await open_storage(url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    url = backend_url(request, request.param, tmp_path / "nursery.db")
    async with migrated_storage(url) as store:
        yield store


@pytest.fixture
async def postgres_storage(database_url: str) -> AsyncIterator[Storage]:
    """The PostgreSQL storage alone, for what only its schema or its connections do."""
    async with migrated_storage(database_url) as store:
        yield store


@pytest.fixture
async def collector(
    storage: Storage, database_url: str, mosquitto: MosquittoBroker
) -> AsyncIterator[Collector]:
    # Its own account: the broker keys sessions by account (use_username_as_clientid), and
    # tests watch the broker as svc.collector alongside it.
    instance = uuid.uuid4().hex[:8]
    collector_account = create_instance_account(mosquitto, "collector", instance)
    settings = CollectorSettings(
        database_url=database_url,
        mqtt=MqttSettings(
            host=mosquitto.host,
            port=mosquitto.port,
            username=collector_account.username,
            password=collector_account.password,
        ),
        client_id=f"collector-{instance}",
        share_group=f"g{uuid.uuid4().hex[:8]}",
        http_port=0,
    )
    collector = Collector(settings, storage)
    await collector.start()
    await asyncio.sleep(0.3)  # let the SUBSCRIBE be acknowledged before devices publish
    try:
        yield collector
    finally:
        await collector.stop()


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest,
    mosquitto: MosquittoBroker,
    tmp_path: Path,
) -> Iterator[Api]:
    url = backend_url(request, request.param, tmp_path / "api.db")
    with TestClient(create_app(api_settings(url, mosquitto, tmp_path))) as client:
        yield Api(client)


@pytest.fixture(params=BACKENDS)
def app_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The API in-process (lifespan included) on each backend, with the test secret."""
    url = backend_url(request, request.param, tmp_path / "api.db")
    settings = ApiSettings(
        database_url=url, jwt_secret=API_TEST_SECRET, upload_dir=str(tmp_path / "up")
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client
