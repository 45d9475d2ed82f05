"""Beyond the documented contract: claiming devices, settings pushed to the device, sharing with
caregivers, alerts with read state, cry episodes, refresh tokens - on both storage backends,
with a real Mosquitto receiving the desired config, and cross-user attempts everywhere."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from cloud.storage.records import EventRow, IngestBatch, TelemetryRow
from models.contract import DesiredConfig, MessageKind, decode_message, topic_for
from tests.harness.api import Api
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.services import create_account


def test_a_claim_code_works_once_and_wrong_codes_reveal_nothing(api: Api) -> None:
    _alice, alice, _ = api.signup("Alice")
    _bob, bob, _ = api.signup("Bob")
    device_id, code = api.new_device()
    wrong = api.client.post("/devices/claim", headers=alice, json={"claim_code": "ZZZZZ-ZZZZZ"})
    assert wrong.status_code == 404
    malformed = api.client.post("/devices/claim", headers=alice, json={"claim_code": "hello"})
    assert malformed.status_code == 400
    typed_sloppily = code.lower().replace("-", " ")
    claimed = api.client.post(
        "/devices/claim", headers=alice, json={"claim_code": typed_sloppily, "name": "Blue room"}
    )
    assert claimed.status_code == 201, claimed.text
    device = claimed.json()
    assert (device["device_id"], device["name"], device["role"]) == (
        device_id,
        "Blue room",
        "owner",
    )
    again = api.client.post("/devices/claim", headers=bob, json={"claim_code": code})
    assert again.status_code == 404
    assert again.json() == wrong.json()
    assert [d["device_id"] for d in api.client.get("/devices", headers=alice).json()] == [device_id]
    assert api.client.get("/devices", headers=bob).json() == []
    assert api.client.get(f"/devices/{device_id}", headers=bob).status_code == 404


def test_only_the_owner_renames_tunes_shares_and_unclaims(api: Api) -> None:
    _alice, alice, _ = api.signup("Alice")
    carol_id, carol, _ = api.signup("Carol")
    _mallory, mallory, _ = api.signup("Mallory")
    device_id = api.claimed_device(alice)
    carol_email = api.client.get("/auth/me", headers=carol).json()["email"]
    invited = api.client.post(
        f"/devices/{device_id}/caregivers", headers=alice, json={"email": carol_email.upper()}
    )
    assert invited.status_code == 202
    nobody = api.client.post(
        f"/devices/{device_id}/caregivers", headers=alice, json={"email": "nobody@example.com"}
    )
    assert (nobody.status_code, nobody.json()) == (202, invited.json())  # no enumeration
    members = api.client.get(f"/devices/{device_id}/caregivers", headers=carol).json()
    assert [(m["role"], m["user_id"]) for m in members][1] == ("caregiver", carol_id)
    assert api.client.get(f"/devices/{device_id}", headers=carol).json()["role"] == "caregiver"

    rename = {"name": "Green room"}
    assert api.client.patch(f"/devices/{device_id}", headers=carol, json=rename).status_code == 403
    assert (
        api.client.patch(f"/devices/{device_id}", headers=mallory, json=rename).status_code == 404
    )
    assert (
        api.client.patch(f"/devices/{device_id}", headers=alice, json=rename).json()["name"]
        == "Green room"
    )
    settings = {"device": {"cry_sensitivity": 0.7}}
    assert (
        api.client.put(f"/devices/{device_id}/settings", headers=carol, json=settings).status_code
        == 403
    )
    assert (
        api.client.put(f"/devices/{device_id}/settings", headers=mallory, json=settings).status_code
        == 404
    )
    as_mallory = api.client.post(
        f"/devices/{device_id}/caregivers", headers=mallory, json={"email": "m@example.com"}
    )
    assert as_mallory.status_code == 404
    assert api.client.delete(f"/devices/{device_id}", headers=carol).status_code == 403

    # A caregiver may leave; then the device is gone for them.
    assert (
        api.client.delete(f"/devices/{device_id}/caregivers/{carol_id}", headers=carol).status_code
        == 204
    )
    assert api.client.get(f"/devices/{device_id}", headers=carol).status_code == 404
    assert api.client.delete(f"/devices/{device_id}", headers=alice).status_code == 204
    assert api.client.get("/devices", headers=alice).json() == []


def test_settings_are_validated_stored_and_pushed_to_the_device_retained(
    api: Api, mosquitto: MosquittoBroker
) -> None:
    _alice, alice, _ = api.signup("Alice")
    device_id = api.claimed_device(alice)
    bad_device = {"device": {"cry_sensitivity": 3}}
    refused = api.client.put(f"/devices/{device_id}/settings", headers=alice, json=bad_device)
    assert refused.status_code == 422
    assert "cry_sensitivity:" in refused.json()["detail"][0]["msg"]
    unknown = {"nursery": {"temperature_maxx_c": 23}}
    refused = api.client.put(f"/devices/{device_id}/settings", headers=alice, json=unknown)
    assert refused.status_code == 422
    assert "temperature_maxx_c: unknown nursery setting" in refused.json()["detail"][0]["msg"]

    body = {"nursery": {"temperature_max_c": 23.5}, "device": {"cry_sensitivity": 0.7}}
    first = api.client.put(f"/devices/{device_id}/settings", headers=alice, json=body).json()
    second = api.client.put(
        f"/devices/{device_id}/settings",
        headers=alice,
        json={"device": {"telemetry_interval_s": 30}},
    ).json()
    assert first["nursery_settings"] == {"temperature_max_c": 23.5}
    assert second["device_settings"] == {"telemetry_interval_s": 30}
    assert second["device_settings_revision"] == first["device_settings_revision"] + 1
    assert second["delivery"] in ("sent", "queued")

    # What the device receives, as the device: the retained latest revision.
    account = create_account(mosquitto, device_id)
    device = ProbeClient(f"{device_id}-probe", device_id, account.password)
    device.connect(mosquitto.host, mosquitto.port)
    device.subscribe(topic_for(device_id, MessageKind.DESIRED_CONFIG))
    deadline = time.monotonic() + 10
    while not device.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    device.client.disconnect()
    assert device.messages, "no retained desired config reached the device"
    desired = decode_message(device.messages[-1].topic, bytes(device.messages[-1].payload))
    assert isinstance(desired, DesiredConfig)
    assert (desired.seq, desired.settings) == (
        second["device_settings_revision"],
        {"telemetry_interval_s": 30},
    )


def _reading(device_id: str, seq: int, at: datetime, temperature: float) -> TelemetryRow:
    return TelemetryRow(device_id, seq, at, at, temperature, 45.0, -50.0, -40.0)


def test_caregivers_see_the_nursery_and_its_alerts_with_their_own_read_state(api: Api) -> None:
    _alice, alice, _ = api.signup("Alice")
    _carol, carol, _ = api.signup("Carol")
    _mallory, mallory, _ = api.signup("Mallory")
    device_id = api.claimed_device(alice)
    carol_email = api.client.get("/auth/me", headers=carol).json()["email"]
    api.client.post(f"/devices/{device_id}/caregivers", headers=alice, json={"email": carol_email})
    # all of it recorded after the claim (what a device records before is nobody's)
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    started = EventRow(
        device_id, 2, now - timedelta(seconds=30), now, "cry_started", 2, 0.97, -30.0, None
    )
    ended = EventRow(
        device_id, 3, now - timedelta(seconds=10), now, "cry_ended", 2, 0.99, -28.0, 20.0
    )
    batch = IngestBatch(
        readings=[_reading(device_id, 1, now - timedelta(minutes=1), 21.0)], events=[started, ended]
    )
    api.run(api.storage.ingest, batch)

    for headers in (alice, carol):
        history = api.client.get("/health/history", headers=headers).json()
        assert [(r["source"], r["device_id"]) for r in history] == [("device", device_id)]
        episodes = api.client.get(f"/devices/{device_id}/episodes", headers=headers).json()
        assert [(e["episode_id"], e["duration_s"]) for e in episodes] == [(2, 20.0)]
        assert api.client.get("/alerts/unread-count", headers=headers).json()["unread"] >= 1
    assert api.client.get("/health/history", headers=mallory).json() == []
    assert api.client.get(f"/devices/{device_id}/episodes", headers=mallory).status_code == 404
    assert api.client.get("/alerts", headers=mallory).json() == []

    cries = api.client.get("/alerts?kind=CRY_DETECTED", headers=alice).json()
    assert [(a["device_id"], a["read"]) for a in cries] == [(device_id, False)]
    marked = api.client.post("/alerts/read", headers=alice, json={"alert_ids": [cries[0]["id"]]})
    assert marked.json() == {"marked": 1}
    assert api.client.get("/alerts?kind=CRY_DETECTED", headers=alice).json()[0]["read"] is True
    assert api.client.get("/alerts?kind=CRY_DETECTED", headers=carol).json()[0]["read"] is False
    # Mallory cannot mark Alice's alert read (nothing happens, nothing leaks).
    assert api.client.post(
        "/alerts/read", headers=mallory, json={"alert_ids": [cries[0]["id"]]}
    ).json() == {"marked": 0}
    assert api.client.post("/alerts/read", headers=carol, json={}).json()["marked"] >= 1
    assert api.client.get("/alerts/unread-count", headers=carol).json() == {"unread": 0}


def test_a_device_alert_reaches_every_caregiver_socket_once(api: Api) -> None:
    alice_id, alice, alice_session = api.signup("Alice")
    carol_id, carol, carol_session = api.signup("Carol")
    device_id = api.claimed_device(alice)
    carol_email = api.client.get("/auth/me", headers=carol).json()["email"]
    api.client.post(f"/devices/{device_id}/caregivers", headers=alice, json={"email": carol_email})
    now = datetime.now(UTC)
    with (
        api.client.websocket_connect(f"/ws/{alice_id}?token={alice_session['access_token']}") as a,
        api.client.websocket_connect(f"/ws/{carol_id}?token={carol_session['access_token']}") as c,
    ):
        event = EventRow(device_id, 5, now, now, "cry_started", 5, 0.98, -25.0, None)
        api.run(api.storage.ingest, IngestBatch(events=[event]))
        for socket in (a, c):
            message = socket.receive_json()
            assert (message["event"], message["device_id"]) == ("CRY_DETECTED", device_id)
        # Exactly once: the next message each socket sees is the next alert, not a repeat.
        api.run(
            api.storage.ingest,
            IngestBatch(events=[EventRow(device_id, 6, now, now, "cry_ended", 5, 0.9, -30.0, 4.0)]),
        )
        later = EventRow(
            device_id, 9, now + timedelta(minutes=5), now, "cry_started", 9, 0.99, -25.0, None
        )
        api.run(api.storage.ingest, IngestBatch(events=[later]))
        for socket in (a, c):
            assert socket.receive_json()["timestamp"] != message["timestamp"]


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_session(api: Api) -> None:
    _alice, _headers, session = api.signup("Alice")
    assert session["expires_in"] == 30 * 60
    first = session["refresh_token"]
    rotated = api.client.post("/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first
    assert (
        api.client.get(
            "/auth/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"}
        ).status_code
        == 200
    )
    # The old one again: theft is assumed, the whole family dies - the newer one too.
    assert api.client.post("/auth/refresh", json={"refresh_token": first}).status_code == 401
    assert api.client.post("/auth/refresh", json={"refresh_token": second}).status_code == 401
    # An access token is not a refresh token.
    access = rotated.json()["access_token"]
    assert api.client.post("/auth/refresh", json={"refresh_token": access}).status_code == 401


def test_logout_ends_one_session_and_logout_all_ends_every_one(api: Api) -> None:
    _alice, headers, phone = api.signup("Alice")
    email = api.client.get("/auth/me", headers=headers).json()["email"]
    tablet = api.client.post(
        "/auth/login", json={"email": email, "password": "testPassword123"}
    ).json()
    assert (
        api.client.post("/auth/logout", json={"refresh_token": phone["refresh_token"]}).status_code
        == 204
    )
    assert (
        api.client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]}).status_code
        == 401
    )
    still = api.client.post("/auth/refresh", json={"refresh_token": tablet["refresh_token"]})
    assert still.status_code == 200
    assert api.client.post("/auth/logout-all", headers=headers).status_code == 204
    assert (
        api.client.post(
            "/auth/refresh", json={"refresh_token": still.json()["refresh_token"]}
        ).status_code
        == 401
    )


def test_live_readings_reach_the_devices_members_and_nobody_else(api: Api) -> None:
    alice_id, alice, alice_session = api.signup("Alice")
    carol_id, carol, carol_session = api.signup("Carol")
    mallory_id, _mallory, mallory_session = api.signup("Mallory")
    device_id = api.claimed_device(alice)
    carol_email = api.client.get("/auth/me", headers=carol).json()["email"]
    api.client.post(f"/devices/{device_id}/caregivers", headers=alice, json={"email": carol_email})
    own_device = api.claimed_device({"Authorization": f"Bearer {mallory_session['access_token']}"})
    # recorded after both claims (whole seconds, so not truncated to before them)
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    with (
        api.client.websocket_connect(f"/ws/{alice_id}?token={alice_session['access_token']}") as a,
        api.client.websocket_connect(f"/ws/{carol_id}?token={carol_session['access_token']}") as c,
        api.client.websocket_connect(
            f"/ws/{mallory_id}?token={mallory_session['access_token']}"
        ) as m,
    ):
        api.run(
            api.storage.ingest,
            IngestBatch(
                readings=[
                    _reading(device_id, 1, now, 21.5),
                    _reading(device_id, 2, now + timedelta(seconds=10), 21.7),
                ]
            ),
        )
        for socket in (a, c):
            message = socket.receive_json()
            assert (message["event"], message["device_id"]) == ("READING", device_id)
            assert (message["data"]["seq"], message["data"]["temperature"]) == (2, 21.7)
        # Mallory's socket sees only her own device's reading, never Alice's.
        api.run(api.storage.ingest, IngestBatch(readings=[_reading(own_device, 1, now, 18.0)]))
        assert m.receive_json()["device_id"] == own_device
