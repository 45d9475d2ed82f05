"""Onboarding against the real broker with the project's configuration: provisioned device
accounts work at once, are confined to their own topics, and revoking one cuts it off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from cloud.collector import Collector
from cloud.provisioning import NewDevice, provision_device, revoke_device
from cloud.storage import Storage
from models.contract import MessageKind, Telemetry, topic_for
from tests.harness.api import Api
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.integration.conftest import provisioning_settings

NOT_AUTHORIZED = 135
REFUSED_LOGIN = {134, 135}


def _telemetry(device_id: str, seq: int = 0) -> bytes:
    return Telemetry(
        device_id=device_id, seq=seq, ts=datetime.now(UTC), temperature_c=20.5
    ).to_json()


async def _provision(storage: Storage, mosquitto: MosquittoBroker) -> NewDevice:
    return await provision_device(storage, provisioning_settings(mosquitto), None)


async def test_a_provisioned_device_may_write_only_its_own_topics(
    storage: Storage, collector: Collector, mosquitto: MosquittoBroker
) -> None:
    device_a = await _provision(storage, mosquitto)
    device_b = await _provision(storage, mosquitto)
    assert device_a.device_id != device_b.device_id

    def publish_as_a() -> tuple[int, int]:
        with probe(
            mosquitto.host,
            mosquitto.port,
            device_a.device_id,
            device_a.mqtt_username,
            device_a.mqtt_password,
        ) as client:
            assert not client.connect(mosquitto.host, mosquitto.port).is_failure
            own = client.publish(
                topic_for(device_a.device_id, MessageKind.TELEMETRY),
                _telemetry(device_a.device_id),
            )
            foreign = client.publish(
                topic_for(device_b.device_id, MessageKind.TELEMETRY),
                _telemetry(device_b.device_id),
            )
            return own.value, foreign.value

    own, foreign = await asyncio.to_thread(publish_as_a)
    assert own == 0
    assert foreign == NOT_AUTHORIZED
    state_a = None
    for _ in range(200):  # the collector commits within its batch delay
        state_a = await storage.get_device_state(device_a.device_id)
        if state_a is not None and state_a.max_seq == 0:
            break
        await asyncio.sleep(0.05)
    assert state_a is not None
    assert state_a.max_seq == 0, "A's own reading was stored"
    state_b = await storage.get_device_state(device_b.device_id)
    assert state_b is not None
    assert state_b.max_seq is None, "nothing was stored in B's name"


async def test_unknown_and_revoked_devices_cannot_connect_and_a_live_one_is_dropped(
    storage: Storage, mosquitto: MosquittoBroker
) -> None:
    device = await _provision(storage, mosquitto)

    def connect(username: str, password: str, client_id: str) -> int:
        with probe(mosquitto.host, mosquitto.port, client_id, username, password) as client:
            return client.connect(mosquitto.host, mosquitto.port).value

    assert await asyncio.to_thread(connect, "nursery-unknown0001", "whatever-pass", "u1") in (
        REFUSED_LOGIN
    )
    live = probe(
        mosquitto.host, mosquitto.port, device.device_id, device.mqtt_username, device.mqtt_password
    )
    with live as client:
        assert not (
            await asyncio.to_thread(client.connect, mosquitto.host, mosquitto.port)
        ).is_failure
        revoked = await revoke_device(
            storage, provisioning_settings(mosquitto), device.device_id, None
        )
        assert revoked
        assert await asyncio.to_thread(client.disconnected.wait, 10), "live connection dropped"
    assert (
        await asyncio.to_thread(
            connect, device.mqtt_username, device.mqtt_password, device.device_id
        )
        in REFUSED_LOGIN
    )


@pytest.mark.usefixtures("mosquitto")
def test_installer_provisions_parent_claims_and_only_installers_may(
    api: Api, mosquitto: MosquittoBroker
) -> None:
    _, parent, _ = api.signup("Parent")
    assert api.client.post("/installer/devices", headers=parent).status_code == 403

    installer_id, installer, _ = api.signup("Installer")
    user = api.run(api.storage.get_user, installer_id)
    api.run(api.storage.set_user_role, user.email, "installer")
    response = api.client.post("/installer/devices", headers=installer)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert created["broker_host"] == mosquitto.host
    assert created["broker_port"] == mosquitto.port
    assert created["mqtt_username"] == created["device_id"]
    assert created["mqtt_password"] not in mosquitto.password_file.read_text()

    with probe(
        mosquitto.host,
        mosquitto.port,
        created["device_id"],
        created["mqtt_username"],
        created["mqtt_password"],
    ) as client:
        assert not client.connect(mosquitto.host, mosquitto.port).is_failure

    listed = api.client.get("/installer/devices", headers=installer).json()
    assert [d["device_id"] for d in listed] == [created["device_id"]]
    assert listed[0]["claimed"] is False

    claim = api.client.post(
        "/devices/claim", headers=parent, json={"claim_code": created["claim_code"]}
    )
    assert claim.status_code == 201, claim.text
    again = api.client.post(
        "/devices/claim", headers=parent, json={"claim_code": created["claim_code"]}
    )
    assert again.status_code == 404, "a claim code works once"
    assert api.client.get("/installer/devices", headers=installer).json()[0]["claimed"] is True

    # Another installer cannot revoke it; its own installer can, and then it is gone.
    other_id, other, _ = api.signup("Other")
    api.run(api.storage.set_user_role, api.run(api.storage.get_user, other_id).email, "installer")
    path = f"/installer/devices/{created['device_id']}"
    assert api.client.delete(path, headers=other).status_code == 404
    assert api.client.delete(path, headers=installer).status_code == 204
    assert created["device_id"] not in mosquitto.password_file.read_text()
    assert api.client.get("/installer/devices", headers=installer).json()[0]["revoked_at"]
