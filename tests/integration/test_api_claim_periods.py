"""The next owner of a device sees only what it recorded since their claim, through every read
of the parents' API and their live socket, on both storage backends: not the previous family's
data, not what the device recorded while nobody held it (even when its outbox delivers that
only after the claim). The previous family no longer sees the device at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.claims import generate_claim_code, hash_claim_code
from cloud.storage.records import EventRow, IngestBatch, TelemetryRow
from tests.harness.api import Api


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _record(api: Api, device_id: str, seq: int, temperature: float, recorded_at: datetime) -> None:
    """A reading and a whole cry episode recorded at ``recorded_at``, received now; every cry
    alarms (no cooldown)."""
    api.run(api.storage.set_device_settings, device_id, {"alarm_cooldown_s": 0.0})
    received = _now()
    api.run(api.storage.ingest, IngestBatch(
        readings=[TelemetryRow(device_id, seq, recorded_at, received, temperature, 40.0,
                               -50.0, -30.0)],
        events=[
            EventRow(device_id, seq + 1, recorded_at, received, "cry_started", seq, 0.9,
                     -20.0, None),
            EventRow(device_id, seq + 2, recorded_at + timedelta(seconds=20), received,
                     "cry_ended", seq, 0.9, -20.0, 20.0),
        ],
    ))  # fmt: skip


def _claim(api: Api, headers: dict[str, str], device_id: str) -> None:
    code = generate_claim_code()
    api.run(api.storage.set_claim_code, device_id, hash_claim_code(code), _now() + timedelta(1))
    claimed = api.client.post("/devices/claim", headers=headers, json={"claim_code": code})
    assert claimed.status_code == 201, claimed.text


def _get(api: Api, path: str, headers: dict[str, str]) -> Any:
    response = api.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_next_owner_sees_only_their_own_claim_period(api: Api) -> None:
    _alice_id, alice, _ = api.signup("Alice")
    bob_id, bob, bob_session = api.signup("Bob")
    device_id, code = api.new_device()
    claimed = api.client.post("/devices/claim", headers=alice, json={"claim_code": code})
    assert claimed.status_code == 201
    _record(api, device_id, 10, 20.0, _now())
    assert len(_get(api, "/health/history", alice)) == 1
    assert api.client.delete(f"/devices/{device_id}", headers=alice).status_code == 204

    _record(api, device_id, 20, 30.0, _now())  # while nobody held it
    still_unclaimed = _now()
    _claim(api, bob, device_id)
    with api.client.websocket_connect(f"/ws/{bob_id}?token={bob_session['access_token']}") as ws:
        # the device's outbox delivers what it recorded while unclaimed only now
        _record(api, device_id, 30, 31.0, still_unclaimed)
        bobs_time = _now()
        _record(api, device_id, 40, 25.0, bobs_time)
        # The first two messages on Bob's screen are his reading and his cry alert: nothing of
        # the replay was sent to him.
        messages: list[dict[str, Any]] = []
        while len(messages) < 2:
            message = ws.receive_json()
            if message["event"] != "HEARTBEAT":
                messages.append(message)
    assert sorted((m["event"], m["timestamp"]) for m in messages) == [
        ("CRY_DETECTED", _iso(bobs_time)), ("READING", _iso(bobs_time)),
    ]  # fmt: skip

    history = _get(api, "/health/history", bob)
    assert [(r["device_id"], r["temperature"]) for r in history] == [(device_id, 25.0)]
    stats = _get(api, "/health/stats", bob)
    assert (stats["total_records"], stats["cry_detected_count"]) == (1, 1)
    assert stats["avg_temperature"] == 25.0
    series = _get(api, "/health/timeseries?interval=1 hour", bob)["data"]
    assert [(b["record_count"], b["cry_count"]) for b in series] == [(1, 1)]
    episodes = _get(api, f"/devices/{device_id}/episodes", bob)
    assert [e["episode_id"] for e in episodes] == [40]
    alerts = _get(api, "/alerts", bob)
    assert [(a["device_id"], a["kind"]) for a in alerts] == [(device_id, "CRY_DETECTED")]
    assert _get(api, "/alerts/unread-count", bob) == {"unread": 1}

    # Alice let go of the device: it is gone for her, with everything it recorded.
    assert _get(api, "/devices", alice) == []
    assert api.client.get(f"/devices/{device_id}/episodes", headers=alice).status_code == 404
    assert _get(api, "/health/history", alice) == []
    assert _get(api, "/health/stats", alice)["total_records"] == 0
    assert _get(api, "/alerts", alice) == []


def _reading_now(api: Api, device_id: str, seq: int, temperature: float) -> None:
    at = _now()
    api.run(api.storage.ingest, IngestBatch(
        readings=[TelemetryRow(device_id, seq, at, at, temperature, 40.0, -50.0, -30.0)]
    ))  # fmt: skip


def _next_reading(ws: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["event"] == "READING":
            return message


def test_an_unclaiming_owner_stops_getting_the_devices_live_readings_at_once(api: Api) -> None:
    alice_id, alice, alice_session = api.signup("Alice")
    given_up, kept = api.claimed_device(alice), api.claimed_device(alice)
    token = alice_session["access_token"]
    with api.client.websocket_connect(f"/ws/{alice_id}?token={token}") as ws:
        _reading_now(api, given_up, 1, 20.0)
        assert _next_reading(ws)["device_id"] == given_up  # its audience is cached now
        assert api.client.delete(f"/devices/{given_up}", headers=alice).status_code == 204
        _reading_now(api, given_up, 2, 30.0)  # nobody's
        _reading_now(api, kept, 1, 21.0)
        reading = _next_reading(ws)
    assert (reading["device_id"], reading["data"]["temperature"]) == (kept, 21.0)


def test_a_removed_caregiver_stops_getting_the_devices_live_readings_at_once(api: Api) -> None:
    _alice_id, alice, _ = api.signup("Alice")
    carol_id, carol, carol_session = api.signup("Carol")
    device_id, kept = api.claimed_device(alice), api.claimed_device(carol)
    carol_email = api.client.get("/auth/me", headers=carol).json()["email"]
    shared = api.client.post(
        f"/devices/{device_id}/caregivers", headers=alice, json={"email": carol_email}
    )
    assert shared.status_code == 202, shared.text
    token = carol_session["access_token"]
    with api.client.websocket_connect(f"/ws/{carol_id}?token={token}") as ws:
        _reading_now(api, device_id, 1, 20.0)
        assert _next_reading(ws)["device_id"] == device_id  # its audience is cached now
        removed = api.client.delete(f"/devices/{device_id}/caregivers/{carol_id}", headers=alice)
        assert removed.status_code == 204, removed.text
        _reading_now(api, device_id, 2, 30.0)  # no longer Carol's
        _reading_now(api, kept, 1, 21.0)
        reading = _next_reading(ws)
    assert (reading["device_id"], reading["data"]["temperature"]) == (kept, 21.0)
