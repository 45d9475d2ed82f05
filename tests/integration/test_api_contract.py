"""The documented app API (docs/app-api.md), endpoint by endpoint, on both storage
backends, with the error paths and cross-user access attempts.

The app runs in-process (Starlette's TestClient drives the real ASGI app, lifespan included)
against a real PostgreSQL database or a SQLite file, with the shipped cry model.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cloud.api import create_app
from cloud.config import ApiSettings
from tests.integration.conftest import BACKENDS, backend_url

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
CRY, SPEECH = AUDIO / "cry_donateacry.flac", AUDIO / "not_cry_speech_commands.flac"
SECRET = "api-contract-test-secret-0123456789-abcdefghij"
RECORD_KEYS = {
    "id",
    "user_id",
    "temperature",
    "humidity",
    "audio_url",
    "cry_detected",
    "sick_detected",
    "created_at",
    "notes",
}
MAX_UPLOAD_MB = 1
LOGIN_FAILURES = 3


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    url = backend_url(request, request.param, tmp_path / "api.db")
    settings = ApiSettings(
        database_url=url,
        jwt_secret=SECRET,
        upload_dir=str(tmp_path / "uploads"),
        max_upload_bytes=MAX_UPLOAD_MB * 1024 * 1024,
        login_failures_per_minute=LOGIN_FAILURES,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def signup(client: TestClient, name: str = "Parent") -> tuple[int, dict[str, str], str]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    registered = client.post(
        "/auth/register", json={"email": email, "password": "testPassword123", "name": name}
    )
    assert registered.status_code == 201, registered.text
    login = client.post("/auth/login", json={"email": email, "password": "testPassword123"})
    assert login.status_code == 200, login.text
    return (
        registered.json()["id"],
        {"Authorization": f"Bearer {login.json()['access_token']}"},
        email,
    )


def upload(
    client: TestClient, headers: dict[str, str], audio: bytes | None = None, **fields: Any
) -> Any:
    data = {"temperature": 37.5, "humidity": 65.0, **fields}
    files = {"audio": ("recording.bin", audio, "application/octet-stream")} if audio else None
    return client.post("/health/upload", headers=headers, data=data, files=files)


def wav_bytes(samples: npt.NDArray[np.float32], rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# ---- auth ------------------------------------------------------------------------------------


def test_register_returns_the_documented_user_and_refuses_a_second_account(
    client: TestClient,
) -> None:
    email = f"reg-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "securePassword123", "name": "John Doe"}
    created = client.post("/auth/register", json=body)
    assert created.status_code == 201
    user = created.json()
    assert set(user) == {"id", "email", "name", "created_at"}
    assert (user["email"], user["name"]) == (email, "John Doe")
    again = client.post("/auth/register", json={**body, "email": email.upper()})
    assert (again.status_code, again.json()["detail"]) == (400, "Email already registered")
    assert client.post("/auth/register", json={**body, "email": "not-an-email"}).status_code == 422
    assert client.post("/auth/register", json={**body, "password": "short"}).status_code == 422


def test_token_login_and_me_follow_the_documented_shapes(client: TestClient) -> None:
    user_id, headers, email = signup(client, "Jane")
    form = client.post("/auth/token", data={"username": email, "password": "testPassword123"})
    assert form.status_code == 200
    # The documented fields, plus the refresh-token extension.
    assert set(form.json()) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert form.json()["token_type"] == "bearer"
    login = client.post("/auth/login", json={"email": email, "password": "testPassword123"})
    assert login.json()["user"] == {"id": user_id, "email": email, "name": "Jane"}
    me = client.get("/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["id"] == user_id


def test_wrong_password_and_unknown_account_look_the_same(client: TestClient) -> None:
    _user_id, _headers, email = signup(client)
    wrong = client.post("/auth/login", json={"email": email, "password": "wrongPassword1"})
    unknown = client.post(
        "/auth/login", json={"email": f"nobody-{uuid.uuid4().hex}@example.com", "password": "x"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_repeated_failed_logins_are_rate_limited_per_account(client: TestClient) -> None:
    _user_id, _headers, email = signup(client)
    for _ in range(LOGIN_FAILURES):
        assert (
            client.post("/auth/token", data={"username": email, "password": "nope"}).status_code
            == 401
        )
    limited = client.post("/auth/token", data={"username": email, "password": "testPassword123"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


@pytest.mark.parametrize("problem", ["missing", "tampered", "expired", "alg-none", "garbage"])
def test_bad_tokens_are_refused(client: TestClient, problem: str) -> None:
    user_id, headers, _email = signup(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "type": "access", "iat": now, "exp": now + timedelta(minutes=5)}
    bad = {
        "missing": None,
        "tampered": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "expired": jwt.encode({**claims, "exp": now - timedelta(seconds=1)}, SECRET, "HS256"),
        "alg-none": jwt.encode(claims, key="", algorithm="none"),
        "garbage": "not.a.jwt",
    }[problem]
    sent = {} if bad is None else {"Authorization": f"Bearer {bad}"}
    response = client.get("/auth/me", headers=sent)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


# ---- uploads ---------------------------------------------------------------------------------


def test_upload_without_audio_is_stored_as_documented(client: TestClient) -> None:
    user_id, headers, _email = signup(client)
    response = upload(client, headers, notes="Test upload")
    assert response.status_code == 201, response.text
    record = response.json()
    assert set(record) >= RECORD_KEYS
    assert record["user_id"] == user_id
    assert (record["temperature"], record["humidity"], record["notes"]) == (
        37.5,
        65.0,
        "Test upload",
    )
    assert (record["audio_url"], record["cry_detected"], record["sick_detected"]) == (
        None,
        False,
        False,
    )
    assert (record["source"], record["device_id"]) == ("upload", None)


def test_a_crying_recording_with_fever_is_cry_and_sick(client: TestClient, tmp_path: Path) -> None:
    user_id, headers, _email = signup(client)
    response = upload(client, headers, audio=CRY.read_bytes(), temperature=38.5)
    assert response.status_code == 201, response.text
    record = response.json()
    assert (record["cry_detected"], record["sick_detected"]) == (True, True)
    name = record["audio_url"].removeprefix("uploads/")
    assert name.startswith(f"audio_{user_id}_")
    assert name.endswith(".flac")
    assert "recording" not in name  # never the client's file name
    assert (tmp_path / "uploads" / name).read_bytes() == CRY.read_bytes()
    fever_free = upload(client, headers, audio=CRY.read_bytes(), temperature=37.0).json()
    assert (fever_free["cry_detected"], fever_free["sick_detected"]) == (True, False)


def test_speech_is_not_a_cry_and_wav_is_recognised_by_content(client: TestClient) -> None:
    _user_id, headers, _email = signup(client)
    samples, rate = soundfile.read(str(SPEECH), dtype="float32")
    record = upload(client, headers, audio=wav_bytes(samples, rate)).json()
    assert record["cry_detected"] is False
    assert record["audio_url"].endswith(".wav")


@pytest.mark.parametrize(
    ("fields", "audio", "fragment"),
    [
        ({"temperature": 60.0}, None, "temperature must be between"),
        ({"humidity": 120.0}, None, "humidity must be between"),
        ({"temperature": "nan"}, None, "temperature must be between"),
        ({}, b"just some text, not audio at all", "supported"),
        ({}, "oversized", "MB"),
    ],
)
def test_invalid_uploads_get_400_with_a_reason(
    client: TestClient, fields: dict[str, Any], audio: bytes | str | None, fragment: str
) -> None:
    _user_id, headers, _email = signup(client)
    payload = audio if not isinstance(audio, str) else None
    if audio == "oversized":  # a real WAV file, just over the limit
        seconds = MAX_UPLOAD_MB * 1024 * 1024 / (2 * 16000) + 1
        payload = wav_bytes(np.zeros(int(seconds * 16000), dtype=np.float32), 16000)
    response = upload(client, headers, audio=payload, **fields)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]


def test_missing_fields_and_no_token_are_refused(client: TestClient) -> None:
    _user_id, headers, _email = signup(client)
    assert (
        client.post("/health/upload", headers=headers, data={"temperature": 37}).status_code == 422
    )
    assert (
        client.post("/health/upload", data={"temperature": 37, "humidity": 50}).status_code == 401
    )


# ---- history, stats, time series, records ----------------------------------------------------


def test_history_filters_and_bounds(client: TestClient) -> None:
    _user_id, headers, _email = signup(client)
    upload(client, headers, notes="calm")
    upload(client, headers, audio=CRY.read_bytes(), notes="crying")
    history = client.get("/health/history", headers=headers).json()
    assert [r["notes"] for r in history] == ["crying", "calm"]  # newest first
    crying = client.get("/health/history?cry_detected=true", headers=headers).json()
    assert [r["notes"] for r in crying] == ["crying"]
    assert len(client.get("/health/history?limit=1", headers=headers).json()) == 1
    assert [
        r["notes"] for r in client.get("/health/history?limit=1&offset=1", headers=headers).json()
    ] == ["calm"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert client.get(f"/health/history?start_date={future}", headers=headers).json() == []
    for bad in ("limit=0", "limit=1001", "offset=-1", "start_date=yesterday"):
        assert client.get(f"/health/history?{bad}", headers=headers).status_code == 422


def test_stats_count_and_average_the_callers_records(client: TestClient) -> None:
    _user_id, headers, _email = signup(client)
    assert client.get("/health/stats", headers=headers).json()["total_records"] == 0
    upload(client, headers, temperature=37.0, humidity=60.0)
    upload(client, headers, audio=CRY.read_bytes(), temperature=39.0, humidity=70.0)
    stats = client.get("/health/stats", headers=headers).json()
    assert set(stats) == {
        "total_records",
        "cry_detected_count",
        "sick_detected_count",
        "avg_temperature",
        "avg_humidity",
        "latest_record",
    }
    assert (stats["total_records"], stats["cry_detected_count"], stats["sick_detected_count"]) == (
        2,
        1,
        1,
    )
    assert stats["avg_temperature"] == pytest.approx(38.0)
    assert stats["avg_humidity"] == pytest.approx(65.0)
    assert stats["latest_record"]["temperature"] == 39.0


def test_timeseries_buckets_the_callers_records(client: TestClient) -> None:
    _user_id, headers, _email = signup(client)
    upload(client, headers, temperature=37.0)
    upload(client, headers, audio=CRY.read_bytes(), temperature=38.0)
    series = client.get("/health/timeseries?interval=1 hour", headers=headers)
    assert series.status_code == 200
    data = series.json()["data"]
    assert len(data) in (1, 2)  # two uploads within seconds: one bucket, or two at an hour's edge
    assert sum(bucket["record_count"] for bucket in data) == 2
    assert sum(bucket["cry_count"] for bucket in data) == 1
    assert set(data[0]) == {
        "time",
        "avg_temperature",
        "avg_humidity",
        "record_count",
        "cry_count",
        "sick_count",
    }
    day = client.get("/health/timeseries?interval=1 day", headers=headers).json()["data"]
    assert day[0]["avg_temperature"] == pytest.approx(37.5) or len(day) == 2
    for bad in (
        "interval=1 fortnight",
        "start_date=2026-01-02T00:00:00Z&end_date=2026-01-01T00:00:00Z",
        "interval=1 minute&start_date=2000-01-01T00:00:00Z",
    ):
        response = client.get(f"/health/timeseries?{bad}", headers=headers)
        assert response.status_code == 400, bad


def test_a_record_is_visible_to_its_owner_only(client: TestClient) -> None:
    _a, alice, _ = signup(client, "Alice")
    _b, bob, _ = signup(client, "Bob")
    record = upload(client, alice, audio=CRY.read_bytes(), notes="alice's").json()
    assert client.get(f"/health/{record['id']}", headers=alice).json() == record
    assert client.get(f"/health/{record['id']}", headers=bob).status_code == 404
    assert client.get("/health/99999999", headers=alice).status_code == 404
    assert client.get("/health/not-a-number", headers=alice).status_code == 422
    # Nothing of Alice's shows up anywhere for Bob.
    assert client.get("/health/history", headers=bob).json() == []
    assert client.get("/health/stats", headers=bob).json()["total_records"] == 0
    assert client.get("/health/timeseries", headers=bob).json() == {"data": []}


def test_the_test_endpoint_reports_the_model(client: TestClient) -> None:
    assert client.get("/health/test/endpoint").json() == {
        "message": "Health router is working!",
        "cry_detection": "AI model ready",
    }


def test_health_and_readiness_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] is True


# ---- WebSocket -------------------------------------------------------------------------------


def test_websocket_refuses_bad_and_foreign_tokens_with_1008(client: TestClient) -> None:
    alice_id, alice, _ = signup(client, "Alice")
    bob_id, _bob, _ = signup(client, "Bob")
    token = alice["Authorization"].removeprefix("Bearer ")
    for path in (f"/ws/{alice_id}?token=garbage", f"/ws/{alice_id}", f"/ws/{bob_id}?token={token}"):
        with client.websocket_connect(path) as socket:
            if "?" not in path:  # no token in the URL: the first message must carry it
                socket.send_json({"action": "ack", "alert_id": 1})
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
        assert closed.value.code == 1008, path
        assert closed.value.reason == "invalid token", path


def test_a_crying_upload_alerts_its_owner_over_the_websocket_and_nobody_else(
    client: TestClient,
) -> None:
    alice_id, alice, _ = signup(client, "Alice")
    bob_id, bob, _ = signup(client, "Bob")
    alice_token = alice["Authorization"].removeprefix("Bearer ")
    bob_token = bob["Authorization"].removeprefix("Bearer ")
    with (
        client.websocket_connect(f"/ws/{alice_id}?token={alice_token}") as alice_socket,
        client.websocket_connect(f"/ws/{bob_id}?token={bob_token}") as bob_socket,
    ):
        upload(client, bob, notes="bob's calm upload")
        record = upload(client, alice, audio=CRY.read_bytes(), temperature=38.6, humidity=70.0)
        message = alice_socket.receive_json()
        assert message["event"] == "CRY_DETECTED"
        assert message["sick_detected"] is True
        assert message["data"]["temperature"] == 38.6
        assert message["data"]["humidity"] == 70.0
        assert message["data"]["record_id"] == record.json()["id"]
        assert datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00")).tzinfo
        # Bob's socket stays silent: a crying upload of Bob's own is the next thing it sees.
        upload(client, bob, audio=CRY.read_bytes())
        assert bob_socket.receive_json()["data"]["temperature"] == 37.5
