"""What the detector heard, from the device to the parents: a ``cry_started`` with ``heard``
published through the real broker is stored by the collector and returned by the API (the
episode, the alert, the WebSocket message), on every storage backend; a message in the older
format, without ``heard``, is stored and returned as before, with no labels."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.collector import Collector
from cloud.config import CollectorSettings, MqttSettings
from cloud.storage import Storage
from cloud.storage.records import CryEpisode, EventRow, HeardLabel, IngestBatch
from models.contract import MessageKind, topic_for
from tests.harness.api import Api
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.services import create_account, create_instance_account

HEARD = [
    {"label": "Baby cry, infant cry", "score": 0.93},
    {"label": "Whimper", "score": 0.41},
    {"label": "Speech", "score": 0.08},
]
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def _cry_started(device_id: str, seq: int, at: datetime, **fields: Any) -> bytes:
    """Written out as a device's firmware would send it (an old device knows no ``heard``)."""
    document = {
        "schema_version": 1, "device_id": device_id, "seq": seq,
        "ts": at.isoformat().replace("+00:00", "Z"), "kind": "cry_started", "episode_id": seq,
        "confidence": 0.93, "sound_dbfs": -28.5, **fields,
    }  # fmt: skip
    return json.dumps(document).encode()


async def _start_collector(storage: Storage, mosquitto: MosquittoBroker) -> Collector:
    instance = uuid.uuid4().hex[:8]
    account = create_instance_account(mosquitto, "collector", instance)
    settings = CollectorSettings(
        database_url="unused: the collector is given the API's storage",
        mqtt=MqttSettings(mosquitto.host, mosquitto.port, account.username, account.password),
        client_id=f"collector-{instance}",
        share_group=f"g{uuid.uuid4().hex[:8]}",
        http_port=0,
    )
    collector = Collector(settings, storage)
    await collector.start()
    await asyncio.wait_for(collector.connected.wait(), 10.0)
    await asyncio.sleep(0.3)  # let the SUBSCRIBE be acknowledged before devices publish
    return collector


def _episodes(api: Api, device_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20.0
    while True:
        response = api.client.get(f"/devices/{device_id}/episodes", headers=headers)
        assert response.status_code == 200, response.text
        episodes: list[dict[str, Any]] = response.json()
        if episodes or time.monotonic() > deadline:
            return episodes
        time.sleep(0.1)


def test_a_device_says_what_it_heard_and_the_parents_see_it(
    api: Api, mosquitto: MosquittoBroker
) -> None:
    user_id, headers, session = api.signup("Alice")
    new_device, old_device = api.claimed_device(headers), api.claimed_device(headers)
    collector = api.run(_start_collector, api.storage, mosquitto)
    # After the claim (what a device records before it is nobody's), within the time window.
    now = datetime.now(UTC) + 2 * SECOND
    try:
        with api.client.websocket_connect(
            f"/ws/{user_id}?token={session['access_token']}"
        ) as socket:
            for device_id, raw in (
                (new_device, _cry_started(new_device, 4, now, heard=HEARD)),
                (old_device, _cry_started(old_device, 9, now)),
            ):
                account = create_account(mosquitto, device_id)
                with probe(
                    mosquitto.host, mosquitto.port, device_id, account.username, account.password
                ) as device:
                    device.connect(mosquitto.host, mosquitto.port)
                    assert not device.publish(
                        topic_for(device_id, MessageKind.EVENT), raw
                    ).is_failure
            announced = {}
            for _ in range(2):
                message = socket.receive_json()
                assert message["event"] == "CRY_DETECTED"
                announced[message["device_id"]] = message["data"]
    finally:
        api.run(collector.stop)

    assert announced[new_device]["heard"] == HEARD
    assert announced[new_device]["confidence"] == 0.93
    assert announced[old_device]["heard"] == []
    assert announced[old_device]["confidence"] == 0.93
    [heard_episode] = _episodes(api, new_device, headers)
    assert heard_episode["heard"] == HEARD
    assert heard_episode["confidence"] == 0.93
    [old_episode] = _episodes(api, old_device, headers)
    assert old_episode["heard"] == []
    assert (old_episode["episode_id"], old_episode["confidence"]) == (9, 0.93)
    alerts = api.client.get("/alerts?kind=CRY_DETECTED", headers=headers).json()
    details = {alert["device_id"]: alert["details"] for alert in alerts}
    assert details[new_device]["heard"] == HEARD
    assert details[old_device]["heard"] == []


async def test_an_episode_says_what_its_end_heard_else_what_its_start_heard(
    storage: Storage,
) -> None:
    owner = await storage.create_user(f"heard-{uuid.uuid4().hex[:8]}@example.com", "hash", None)
    device_id, code_hash = f"dev-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await storage.set_claim_code(device_id, code_hash, T0 + timedelta(days=1))
    assert await storage.claim_device(owner.id, code_hash, T0, "Nursery") is not None
    onset = (HeardLabel("Baby cry, infant cry", 0.81), HeardLabel("Speech", 0.2))
    whole = (HeardLabel("Baby cry, infant cry", 0.97), HeardLabel("Whimper", 0.5))
    received = datetime.now(UTC)

    def event(seq: int, at: datetime, kind: str, episode: int, **fields: Any) -> EventRow:
        return EventRow(device_id, seq, at, received, kind, episode, 0.9, -30.0, None, **fields)

    batch = [
        event(1, T0, "cry_started", 1, heard=onset),
        event(2, T0 + 9 * SECOND, "cry_ended", 1, heard=whole),
        event(3, T0 + 60 * SECOND, "cry_started", 3, heard=onset),
        event(4, T0 + 70 * SECOND, "cry_ended", 3),  # an end that names nothing
        event(5, T0 + 120 * SECOND, "cry_started", 5, heard=onset),  # still crying
        event(6, T0 + 180 * SECOND, "cry_started", 6),  # an older device: no labels at all
    ]
    await storage.ingest(IngestBatch(events=batch))
    await storage.ingest(IngestBatch(events=batch[:2]))  # redelivered: unchanged
    episodes = await storage.list_cry_episodes(owner.id, device_id, None, None, 10)
    assert [(e.episode_id, e.heard) for e in episodes] == [
        (6, ()), (5, onset), (3, onset), (1, whole),
    ]  # fmt: skip
    assert all(isinstance(e, CryEpisode) for e in episodes)
