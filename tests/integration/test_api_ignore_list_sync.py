"""The cloud converges each device's retained "not a cry" list to the stored one
(cloud/api/ignore_list_sync.py), on every backend, as the device receives it from a real
Mosquitto: a list changed without the API (the operator's ``nursery-cloud device register
--owner``, which publishes nothing) reaches the device within seconds; a list written while
the broker was down reaches it after the API restarted (the queue it was in died with the
process); and a list another API process changed while this one was sending an older one is
sent again, so the older one is not what the broker keeps."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.api.device_config import DesiredConfigPublisher
from cloud.api.ignore_list_sync import SYNC_INTERVAL_S, publish_and_note
from cloud.config import MqttSettings
from cloud.storage import Storage
from models.contract import IgnoreList, MessageKind, decode_message, topic_for
from tests.harness.api import Api
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.processes import console_script
from tests.harness.services import BrokerAccount, create_account, create_instance_account
from tests.integration.conftest import BACKENDS, api_settings, backend_url
from tests.integration.test_api_not_a_cry import as_device, cry, ok
from tests.integration.test_device_publisher import until_connected
from tests.integration.test_storage_not_a_cry import NOW, SECOND, cries, family

# The sync's interval, and a margin for the API's start and the broker's round trip.
WITHIN_S = SYNC_INTERVAL_S + 4.0


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL that outlives one API process (the session's PostgreSQL databases; a
    SQLite file of the test)."""
    return backend_url(request, request.param, tmp_path / "api.db")


@contextmanager
def running_api(database: str, broker: MosquittoBroker, tmp_path: Path) -> Iterator[Api]:
    with TestClient(create_app(api_settings(database, broker, tmp_path))) as client:
        yield Api(client)


@contextmanager
def listening_as(broker: MosquittoBroker, device: BrokerAccount) -> Iterator[ProbeClient]:
    """Subscribed to the device's ``ignore/desired`` as the device (its ACL), as it is while
    online: the retained list first, then every list published."""
    client = ProbeClient(
        f"{device.username}-{uuid.uuid4().hex[:6]}", device.username, device.password
    )
    client.connect(broker.host, broker.port)
    try:
        client.subscribe(topic_for(device.username, MessageKind.IGNORE_LIST))
        yield client
    finally:
        client.close()


def wait_for_revision(client: ProbeClient, revision: int, timeout_s: float) -> IgnoreList:
    """The first list of at least ``revision`` the device receives within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in list(client.messages):
            payload = decode_message(message.topic, bytes(message.payload))
            assert isinstance(payload, IgnoreList)
            if payload.seq >= revision:
                return payload
        time.sleep(0.05)
    seen = [decode_message(m.topic, bytes(m.payload)).seq for m in client.messages]
    raise AssertionError(f"revision {revision} did not arrive in {timeout_s} s; got {seen}")


def email_of(api: Api, headers: dict[str, str]) -> str:
    email: str = api.client.get("/auth/me", headers=headers).json()["email"]
    return email


def test_a_list_the_operator_emptied_reaches_the_device(
    database: str, mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    with running_api(database, mosquitto, tmp_path) as api:
        _anna, anna, _ = api.signup("Anna")
        _dora, dora, _ = api.signup("Dora")
        device_id = api.claimed_device(anna)
        device = create_account(mosquitto, device_id)
        alert = cry(api, device_id, 5)
        marked = ok(api.client.post(f"/alerts/{alert.id}/not-a-cry", headers=anna))
        assert marked["delivery"] == "sent"

        with listening_as(mosquitto, device) as online:
            assert wait_for_revision(online, marked["revision"], WITHIN_S).marks != []
            # The operator hands the device to Dora: storage only, nothing published.
            command = [console_script("nursery-cloud"), "device", "register", device_id]
            done = subprocess.run(
                [*command, "--owner-email", email_of(api, dora)],
                env={**os.environ, "DATABASE_URL": database},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            stored = ok(api.client.get(f"/devices/{device_id}/ignored-sounds", headers=dora))
            assert stored["marks"] == []
            assert stored["revision"] > marked["revision"]

            sent = wait_for_revision(online, stored["revision"], WITHIN_S)
            assert (sent.seq, sent.marks) == (stored["revision"], [])
        # And it is the retained list a device reconnecting later gets.
        retained = as_device(mosquitto, device)
        assert (retained.seq, retained.marks) == (stored["revision"], [])
        unsent = api.run(api.storage.unpublished_ignore_lists, 100_000)
        assert device_id not in [state.device_id for state in unsent]


def test_a_list_written_while_the_broker_was_down_reaches_the_device_after_an_api_restart(
    database: str, tmp_path: Path
) -> None:
    broker = MosquittoBroker(tmp_path / "broker")  # this test's own: it stops it
    broker.start()
    try:
        with running_api(database, broker, tmp_path) as api:
            _anna, anna, _ = api.signup("Anna")
            device_id = api.claimed_device(anna)
            device = create_account(broker, device_id)
            first, second = cry(api, device_id, 5), cry(api, device_id, 9)
            marked = ok(api.client.post(f"/alerts/{first.id}/not-a-cry", headers=anna))
            assert marked["delivery"] == "sent"

            broker.stop()
            publisher = api.client.app.state.services.config_publisher  # type: ignore[attr-defined]
            deadline = time.monotonic() + 10
            while publisher.connected:
                assert time.monotonic() < deadline, "the API never noticed the broker stop"
                time.sleep(0.05)
            both = ok(api.client.post(f"/alerts/{second.id}/not-a-cry", headers=anna))
            assert both["delivery"] == "queued"
        # The API stopped with the list in its queue; the broker comes back after it.
        broker.start()
        with running_api(database, broker, tmp_path), listening_as(broker, device) as online:
            sent = wait_for_revision(online, both["revision"], WITHIN_S)
            assert sent.seq == both["revision"]
            assert [mark.episode_id for mark in sent.marks] == [9, 5]
    finally:
        broker.stop()


async def test_a_list_changed_while_an_older_one_was_sent_is_sent_again(
    storage: Storage, mosquitto: MosquittoBroker
) -> None:
    anna, _ben, device_id = await family(storage)
    await cries(storage, device_id, 2)
    read_here = await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    # Meanwhile another API process changes the list, sends the newer one and notes it; this
    # one's older list reaches the broker after it.
    newer = await storage.mark_not_a_cry(anna, device_id, 2, NOW + SECOND)
    await storage.note_ignore_list_published(device_id, newer.revision)
    device = create_account(mosquitto, device_id)
    account = create_instance_account(mosquitto, "api", uuid.uuid4().hex[:8])
    publisher = DesiredConfigPublisher(
        MqttSettings(mosquitto.host, mosquitto.port, account.username, account.password)
    )
    await publisher.start()
    try:
        await until_connected(publisher)
        with listening_as(mosquitto, device) as online:
            assert await publish_and_note(storage, publisher, read_here) is True
            sent = await asyncio.to_thread(wait_for_revision, online, newer.revision, 5.0)
        assert [mark.episode_id for mark in sent.marks] == [2, 1]
        retained = await asyncio.to_thread(as_device, mosquitto, device)
        assert (retained.seq, retained.marks) == (newer.revision, sent.marks)
    finally:
        await publisher.stop()


def test_a_list_that_cannot_be_sent_does_not_hold_back_the_lists_after_it(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One device's stored list the contract refuses (here a revision beyond 64 bits, as a
    SQLite database could hold one) is logged and skipped each round; the device after it in
    device order still gets its list."""
    database = f"sqlite:///{tmp_path / 'api.db'}"
    with running_api(database, mosquitto, tmp_path) as api:
        _anna, anna, _ = api.signup("Anna")
        broken, healthy = sorted(api.claimed_device(anna) for _ in range(2))
        device = create_account(mosquitto, healthy)
        with sqlite3.connect(tmp_path / "api.db") as conn:
            conn.execute(
                "UPDATE devices SET ignore_list_revision = 9.3e18 WHERE device_id = ?", (broken,)
            )
            conn.execute(
                "UPDATE devices SET ignore_list_revision = ignore_list_revision + 1"
                " WHERE device_id = ?",
                (healthy,),
            )
        revision = api.run(api.storage.ignore_list_for_device, healthy).revision
        with listening_as(mosquitto, device) as online:
            assert wait_for_revision(online, revision, WITHIN_S).seq == revision
        assert f"sending {broken} its ignore list revision" in caplog.text
        unsent = api.run(api.storage.unpublished_ignore_lists, 100_000)
        assert [state.device_id for state in unsent] == [broken]
