"""'Not a cry' through the API on every backend (docs/api.md, "Not a cry"): who may mark, undo
and clear (any member; anyone else gets 404), which alerts cannot be marked and why (409), what
a device receives from a real Mosquitto as itself (the retained ``ignore/desired`` list, with
exactly the marks and a rising revision), that claiming starts an empty list, and that a cry the
monitor ignored is listed and sent to sockets but never pushed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.claims import generate_claim_code, hash_claim_code
from cloud.collector.decode import to_ingest_item
from cloud.config import ApiSettings, MqttSettings
from cloud.push.keys import VapidKeyPair
from cloud.push.settings import PushSettings
from cloud.storage.records import EventRow, IngestBatch, StatusRow, StoredAlert, UploadRow
from models.contract import (
    Event,
    HeardLabel,
    IgnoredBecause,
    IgnoreList,
    MessageKind,
    Status,
    decode_message,
    topic_for,
)
from tests.harness.api import API_TEST_SECRET, Api
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import retained_messages
from tests.harness.push_service import LocalPushService
from tests.harness.services import BrokerAccount, create_account, create_instance_account
from tests.integration.conftest import BACKENDS, backend_url, provisioning_settings


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest,
    mosquitto: MosquittoBroker,
    tmp_path: Path,
    vapid_keys: VapidKeyPair,
) -> Iterator[Api]:
    """The API in-process with a broker (its own svc.api account) and push towards the local
    push service, as a production API runs."""
    url = backend_url(request, request.param, tmp_path / "api.db")
    account = create_instance_account(mosquitto, "api", uuid.uuid4().hex[:8])
    settings = ApiSettings(
        database_url=url,
        jwt_secret=API_TEST_SECRET,
        upload_dir=str(tmp_path / "uploads"),
        mqtt=MqttSettings(mosquitto.host, mosquitto.port, account.username, account.password),
        provisioning=provisioning_settings(mosquitto),
        push=PushSettings(
            vapid_private_key=vapid_keys.private_key,
            vapid_subject="mailto:ops@example.org",
            endpoint_hosts=("127.0.0.1",),
            allow_http=True,
        ),
    )
    with TestClient(create_app(settings)) as client:
        yield Api(client)


# --- helpers ---------------------------------------------------------------------------------


def cry(
    api: Api,
    device_id: str,
    seq: int,
    ignored: IgnoredBecause | None = None,
    at: datetime | None = None,
) -> StoredAlert:
    """The device's cry_started ``seq`` (its episode ``seq``), ``seq`` times 3 minutes from now
    (so that each is past the previous one's alarm cooldown) unless ``at``, decoded as the
    collector decodes it and stored, which raises its alert."""
    at = at or datetime.now(UTC) + timedelta(minutes=3 * seq)
    event = Event(
        device_id=device_id, seq=seq, ts=at, kind="cry_started", episode_id=seq,
        confidence=0.91, sound_dbfs=-28.0, temperature_c=21.0,
        heard=[HeardLabel(label="Baby cry, infant cry", score=0.91)], ignored=ignored,
    )  # fmt: skip
    row = to_ingest_item(topic_for(device_id, MessageKind.EVENT), event.to_json(), at)
    assert isinstance(row, EventRow), row
    (alert,) = api.run(api.storage.ingest, IngestBatch(events=[row])).alerts
    return alert  # type: ignore[no-any-return]


def as_device(mosquitto: MosquittoBroker, device: BrokerAccount) -> IgnoreList:
    """The ignore list the device gets when it (re)connects now: the retained one, as itself."""
    topic = topic_for(device.username, MessageKind.IGNORE_LIST)
    messages = retained_messages(
        mosquitto.host, mosquitto.port, device.username, device.password, [topic]
    )
    assert len(messages) == 1, [m.payload for m in messages]
    payload = decode_message(messages[0].topic, bytes(messages[0].payload))
    assert isinstance(payload, IgnoreList)
    return payload


def episodes_on_the_device(payload: IgnoreList) -> list[tuple[int, datetime]]:
    return [(mark.episode_id, mark.marked_at) for mark in payload.marks]


def marks_of(answer: dict[str, Any]) -> list[tuple[int, datetime]]:
    return [
        (mark["episode_id"], datetime.fromisoformat(mark["marked_at"])) for mark in answer["marks"]
    ]


def share(api: Api, owner: dict[str, str], device_id: str, caregiver: dict[str, str]) -> None:
    email = api.client.get("/auth/me", headers=caregiver).json()["email"]
    invited = api.client.post(
        f"/devices/{device_id}/caregivers", headers=owner, json={"email": email}
    )
    assert invited.status_code == 202, invited.text


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- marking, undoing, clearing --------------------------------------------------------------


def test_any_member_marks_undoes_and_clears_and_the_device_gets_exactly_the_marks(
    api: Api, mosquitto: MosquittoBroker
) -> None:
    _anna, anna, _ = api.signup("Anna")
    _carol, carol, _ = api.signup("Carol")
    device_id = api.claimed_device(anna)
    share(api, anna, device_id, carol)
    device = create_account(mosquitto, device_id)
    first, second = cry(api, device_id, 5), cry(api, device_id, 9)
    assert (first.kind, first.details["episode_id"]) == ("CRY_DETECTED", 5)

    # A caregiver may mark: the whole list comes back, and goes to the device.
    marked = ok(api.client.post(f"/alerts/{first.id}/not-a-cry", headers=carol))
    assert [m["episode_id"] for m in marked["marks"]] == [5]
    assert marked["marks"][0]["marked_by_name"] == "Carol"
    assert marked["device"] is None  # the device has not reported a list yet
    assert marked["delivery"] in ("sent", "queued")
    revision = marked["revision"]
    assert revision >= 1
    # Marking again changes nothing: no new revision.
    again = ok(api.client.post(f"/alerts/{first.id}/not-a-cry", headers=anna))
    assert (again["revision"], again["marks"]) == (revision, marked["marks"])

    both = ok(api.client.post(f"/alerts/{second.id}/not-a-cry", headers=anna))
    assert both["revision"] > revision
    assert [(m["episode_id"], m["marked_by_name"]) for m in both["marks"]] == [
        (9, "Anna"),
        (5, "Carol"),
    ]  # newest first
    on_device = as_device(mosquitto, device)
    assert on_device.seq == both["revision"]
    assert episodes_on_the_device(on_device) == marks_of(both)

    # Everyone reads the same list, in the device and on its episodes.
    listed = ok(api.client.get(f"/devices/{device_id}/ignored-sounds", headers=carol))
    assert "delivery" not in listed
    assert (listed["revision"], listed["marks"]) == (both["revision"], both["marks"])
    shown = ok(api.client.get(f"/devices/{device_id}", headers=carol))["ignore_list"]
    assert (shown["revision"], shown["marks"], shown["device"]) == (
        both["revision"],
        both["marks"],
        None,
    )
    episodes = api.client.get(f"/devices/{device_id}/episodes", headers=anna).json()
    assert {e["episode_id"]: e["not_a_cry"]["marked_by_name"] for e in episodes} == {
        9: "Anna",
        5: "Carol",
    }
    assert all(e["ignored"] is None for e in episodes)

    # Undo from the alert, then from the list (an ignored episode's "Undo").
    undone = ok(api.client.delete(f"/alerts/{first.id}/not-a-cry", headers=anna))
    assert undone["revision"] > both["revision"]
    assert [m["episode_id"] for m in undone["marks"]] == [9]
    assert episodes_on_the_device(as_device(mosquitto, device)) == marks_of(undone)
    empty = ok(api.client.delete(f"/devices/{device_id}/ignored-sounds/9", headers=carol))
    assert (empty["marks"], empty["revision"] > undone["revision"]) == ([], True)
    # Undoing what is not marked changes nothing.
    same = ok(api.client.delete(f"/devices/{device_id}/ignored-sounds/9", headers=carol))
    assert (same["revision"], same["marks"]) == (empty["revision"], [])
    same = ok(api.client.delete(f"/alerts/{first.id}/not-a-cry", headers=carol))
    assert same["revision"] == empty["revision"]
    after_undo = as_device(mosquitto, device)
    assert (after_undo.seq, after_undo.marks) == (empty["revision"], [])
    episodes = api.client.get(f"/devices/{device_id}/episodes", headers=anna).json()
    assert all(e["not_a_cry"] is None for e in episodes)

    # Clear: everything goes, the device is told.
    ok(api.client.post(f"/alerts/{first.id}/not-a-cry", headers=anna))
    ok(api.client.post(f"/alerts/{second.id}/not-a-cry", headers=carol))
    cleared = ok(api.client.delete(f"/devices/{device_id}/ignored-sounds", headers=carol))
    assert cleared["marks"] == []
    on_device = as_device(mosquitto, device)
    assert (on_device.seq, on_device.marks) == (cleared["revision"], [])
    assert on_device.seq > empty["revision"]


def test_the_device_side_of_the_list_comes_from_its_status(api: Api) -> None:
    _anna, anna, _ = api.signup("Anna")
    device_id = api.claimed_device(anna)
    alert = cry(api, device_id, 5)
    marked = ok(api.client.post(f"/alerts/{alert.id}/not-a-cry", headers=anna))
    changed = datetime(2026, 12, 6, 21, 3, 12, tzinfo=UTC)
    status = Status(
        device_id=device_id, seq=6, ts=datetime.now(UTC), state="online",
        ignore_list_size=0, ignore_list_changed_at=changed,
        ignore_list_revision=marked["revision"], ignore_list_unknown=[5],
    )  # fmt: skip
    row = to_ingest_item(
        topic_for(device_id, MessageKind.STATUS), status.to_json(), datetime.now(UTC)
    )
    assert isinstance(row, StatusRow)
    api.run(api.storage.ingest, IngestBatch(statuses=[row]))
    listed = ok(api.client.get(f"/devices/{device_id}/ignored-sounds", headers=anna))
    assert listed["device"] == {
        "size": 0,
        "changed_at": "2026-12-06T21:03:12Z",
        "revision": marked["revision"],
        "unknown": [5],
    }
    device = ok(api.client.get(f"/devices/{device_id}", headers=anna))
    assert device["ignore_list"]["device"] == listed["device"]


# --- who may, and what cannot be marked ------------------------------------------------------


def test_another_familys_alerts_and_devices_are_not_found(api: Api) -> None:
    _anna, anna, _ = api.signup("Anna")
    bob_id, bob, _ = api.signup("Bob")
    device_id = api.claimed_device(anna)
    alert = cry(api, device_id, 5)
    # Bob's own upload alert is his alone.
    now = datetime.now(UTC)
    upload = UploadRow(bob_id, now, 37.0, 45.0, None, None, True, False, 0.9)
    _record, bobs = api.run(api.storage.add_upload, upload)
    assert bobs is not None

    for method, path in [
        ("POST", f"/alerts/{alert.id}/not-a-cry"),
        ("DELETE", f"/alerts/{alert.id}/not-a-cry"),
        ("GET", f"/devices/{device_id}/ignored-sounds"),
        ("DELETE", f"/devices/{device_id}/ignored-sounds"),
        ("DELETE", f"/devices/{device_id}/ignored-sounds/5"),
        ("POST", "/alerts/999999999/not-a-cry"),
        ("GET", "/devices/no-such-device/ignored-sounds"),
    ]:
        answer = api.client.request(method, path, headers=bob)
        assert answer.status_code == 404, (method, path, answer.text)
        assert api.client.request(method, path).status_code == 401
    answer = api.client.post(f"/alerts/{bobs.id}/not-a-cry", headers=anna)
    assert answer.status_code == 404, answer.text
    # Nothing changed for Anna.
    listed = ok(api.client.get(f"/devices/{device_id}/ignored-sounds", headers=anna))
    assert listed["marks"] == []


def test_an_alert_that_cannot_be_marked_is_refused_with_the_reason(api: Api) -> None:
    anna_id, anna, _ = api.signup("Anna")
    device_id = api.claimed_device(anna)
    now = datetime.now(UTC)
    _record, upload = api.run(
        api.storage.add_upload, UploadRow(anna_id, now, 38.5, 45.0, None, None, True, True, 0.9)
    )
    loud = EventRow(device_id, 3, now, now, "loud_sound", 3, 0.0, -12.0, 20.0)
    (loud_alert,) = api.run(api.storage.ingest, IngestBatch(events=[loud])).alerts
    marked = cry(api, device_id, 5)
    ok(api.client.post(f"/alerts/{marked.id}/not-a-cry", headers=anna))
    ignored = cry(
        api, device_id, 9, IgnoredBecause(like_episode_id=5, marked_at=now, similarity=0.93)
    )
    assert ignored.kind == "CRY_IGNORED"
    cases = [
        (upload.id, "app upload"),
        (loud_alert.id, "LOUD_SOUND"),
        (ignored.id, "Already ignored"),
    ]
    for alert_id, reason in cases:
        for method in ("POST", "DELETE"):
            answer = api.client.request(method, f"/alerts/{alert_id}/not-a-cry", headers=anna)
            assert answer.status_code == 409, answer.text
            assert reason in answer.json()["detail"]
    listed = ok(api.client.get(f"/devices/{device_id}/ignored-sounds", headers=anna))
    assert [m["episode_id"] for m in listed["marks"]] == [5]


def test_an_episode_number_the_monitor_used_twice_is_refused(api: Api) -> None:
    """A monitor whose memory was wiped numbers its episodes from the start again: marking a
    number it used for two cries could make it ignore the wrong sound (docs/api.md)."""
    _anna_id, anna, _ = api.signup("Anna")
    device_id = api.claimed_device(anna)
    before = cry(api, device_id, 5)
    after_reset = cry(api, device_id, 5, at=datetime.now(UTC) + timedelta(hours=2))
    for alert in (before, after_reset):
        for method in ("POST", "DELETE"):  # neither marked nor undone from either alert
            answer = api.client.request(method, f"/alerts/{alert.id}/not-a-cry", headers=anna)
            assert answer.status_code == 409, answer.text
            assert "memory was reset" in answer.json()["detail"]
    listed = ok(api.client.get(f"/devices/{device_id}/ignored-sounds", headers=anna))
    assert (listed["revision"], listed["marks"]) == (0, [])


@pytest.mark.parametrize(
    "path",
    [
        "/alerts/0/not-a-cry",
        f"/alerts/{2**63}/not-a-cry",
        "/alerts/-1/not-a-cry",
        "/alerts/abc/not-a-cry",
    ],
)
def test_alert_ids_out_of_range_are_422(app_client: TestClient, path: str) -> None:
    headers = Api(app_client).signup("Anna")[1]
    assert app_client.post(path, headers=headers).status_code == 422
    assert app_client.delete(path, headers=headers).status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/devices/dev-1/ignored-sounds/-1",
        f"/devices/dev-1/ignored-sounds/{2**63}",
        "/devices/bad device/ignored-sounds/1",
        "/devices/bad device/ignored-sounds",
    ],
)
def test_episode_and_device_ids_out_of_range_are_422(app_client: TestClient, path: str) -> None:
    headers = Api(app_client).signup("Anna")[1]
    assert app_client.delete(path, headers=headers).status_code == 422


def test_without_a_broker_the_list_is_stored_and_not_sent(app_client: TestClient) -> None:
    api = Api(app_client)
    _anna, anna, _ = api.signup("Anna")
    device_id = api.claimed_device(anna)
    alert = cry(api, device_id, 5)
    marked = ok(app_client.post(f"/alerts/{alert.id}/not-a-cry", headers=anna))
    assert (marked["delivery"], [m["episode_id"] for m in marked["marks"]]) == (
        "not_configured",
        [5],
    )


# --- claims ----------------------------------------------------------------------------------


def test_a_new_claim_starts_an_empty_list_and_the_device_is_told(
    api: Api, mosquitto: MosquittoBroker
) -> None:
    _anna, anna, _ = api.signup("Anna")
    _bob, bob, _ = api.signup("Bob")
    device_id = api.claimed_device(anna)
    device = create_account(mosquitto, device_id)
    alert = cry(api, device_id, 5)
    marked = ok(api.client.post(f"/alerts/{alert.id}/not-a-cry", headers=anna))
    assert [m.episode_id for m in as_device(mosquitto, device).marks] == [5]

    # Anna gives it up: the device forgets her family's marks.
    assert api.client.delete(f"/devices/{device_id}", headers=anna).status_code == 204
    released = as_device(mosquitto, device)
    assert (released.marks, released.seq > marked["revision"]) == ([], True)

    # Bob claims it: an empty list, a revision the device has not seen.
    code = generate_claim_code()
    expires = datetime.now(UTC) + timedelta(days=1)
    api.run(api.storage.set_claim_code, device_id, hash_claim_code(code), expires)
    claimed = api.client.post("/devices/claim", headers=bob, json={"claim_code": code})
    assert claimed.status_code == 201, claimed.text
    assert claimed.json()["ignore_list"]["marks"] == []
    listed = ok(api.client.get(f"/devices/{device_id}/ignored-sounds", headers=bob))
    assert listed["marks"] == []
    assert listed["revision"] >= released.seq
    on_device = as_device(mosquitto, device)
    assert (on_device.seq, on_device.marks) == (listed["revision"], [])


# --- an ignored cry: listed and on sockets, never pushed --------------------------------------


def test_an_ignored_cry_is_listed_and_sent_to_sockets_but_never_pushed(
    api: Api, push_service: LocalPushService
) -> None:
    anna_id, anna, session = api.signup("Anna")
    device_id = api.claimed_device(anna)
    phone = push_service.subscribe()
    registered = api.client.post("/push/subscriptions", headers=anna, json=phone.to_json())
    assert registered.status_code == 201, registered.text
    first = cry(api, device_id, 5)
    push_service.wait_for_accepted(phone)  # a cry alert is pushed
    ok(api.client.post(f"/alerts/{first.id}/not-a-cry", headers=anna))

    like = IgnoredBecause(like_episode_id=5, marked_at=datetime.now(UTC), similarity=0.93)
    with api.client.websocket_connect(f"/ws/{anna_id}?token={session['access_token']}") as socket:
        ignored = cry(api, device_id, 9, like)
        message = socket.receive_json()
        assert (message["event"], message["alert_id"]) == ("CRY_IGNORED", ignored.id)
        assert message["needs_ack"] is False
        assert message["data"]["episode_id"] == 9
        assert message["data"]["ignored"]["like_episode_id"] == 5
        # The next cry is an alarm again, and it is pushed; the ignored one before it was not.
        later = cry(api, device_id, 12)
        assert socket.receive_json()["alert_id"] == later.id
    pushed = push_service.wait_for_accepted(phone, count=2)
    assert [r.payload["alert"]["id"] for r in pushed if r.payload] == [first.id, later.id]
    assert all(
        r.payload is None or r.payload["alert"]["id"] != ignored.id
        for r in push_service.requests(phone)
    )
    rows = api.client.get(f"/alerts/{ignored.id}/deliveries", headers=anna).json()
    assert {r["channel"] for r in rows} <= {"websocket"}

    listed = api.client.get("/alerts", headers=anna, params={"kind": "CRY_IGNORED"}).json()
    assert [(a["id"], a["needs_ack"]) for a in listed] == [(ignored.id, False)]
    assert listed[0]["details"]["ignored"]["similarity"] == pytest.approx(0.93)
    episodes = api.client.get(f"/devices/{device_id}/episodes", headers=anna).json()
    (episode,) = [e for e in episodes if e["episode_id"] == 9]
    assert episode["ignored"]["like_episode_id"] == 5
    assert episode["ignored"]["similarity"] == pytest.approx(0.93)
