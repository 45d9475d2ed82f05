"""A WebSocket ends with its sign-in, on both storage backends (the in-process path; the
cross-process one is tests/e2e/test_websocket_token_lifetime.py): logging out everywhere or a
new password closes it with 1008 ``session ended`` at once, and the old access token stops
working for REST too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cloud.storage import Storage

PASSWORD = "testPassword123"


def signup(app_client: TestClient) -> tuple[int, str, str]:
    """(user id, e-mail, access token) of a new account."""
    email = f"socket-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD}
    user_id = app_client.post("/auth/register", json=body).json()["id"]
    return user_id, email, app_client.post("/auth/login", json=body).json()["access_token"]


def test_logout_all_closes_the_socket_and_retires_the_access_token(app_client: TestClient) -> None:
    user_id, _email, token = signup(app_client)
    bearer = {"Authorization": f"Bearer {token}"}
    with app_client.websocket_connect(f"/ws/{user_id}") as socket:
        socket.send_json({"action": "auth", "token": token})
        assert socket.receive_json()["event"] == "AUTH_RESULT"
        assert app_client.post("/auth/logout-all", headers=bearer).status_code == 204
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert (closed.value.code, closed.value.reason) == (1008, "session ended")
    assert app_client.get("/auth/me", headers=bearer).status_code == 401
    with (
        app_client.websocket_connect(f"/ws/{user_id}?token={token}") as socket,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        socket.receive_json()
    assert (closed.value.code, closed.value.reason) == (1008, "session ended")


def test_a_password_change_needs_the_current_password_and_ends_every_sign_in(
    app_client: TestClient,
) -> None:
    user_id, email, token = signup(app_client)
    bearer = {"Authorization": f"Bearer {token}"}
    wrong = app_client.post(
        "/auth/password",
        headers=bearer,
        json={"current_password": "not-it-at-all", "new_password": "another-password-1"},
    )
    assert wrong.status_code == 403, wrong.text
    short = app_client.post(
        "/auth/password", headers=bearer, json={"current_password": PASSWORD, "new_password": "x"}
    )
    assert short.status_code == 422
    with app_client.websocket_connect(f"/ws/{user_id}?token={token}") as socket:
        changed = app_client.post(
            "/auth/password",
            headers=bearer,
            json={"current_password": PASSWORD, "new_password": "another-password-1"},
        )
        assert changed.status_code == 200, changed.text
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert (closed.value.code, closed.value.reason) == (1008, "session ended")
    assert app_client.get("/auth/me", headers=bearer).status_code == 401
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert app_client.get("/auth/me", headers=fresh).json()["id"] == user_id
    old = app_client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    new = app_client.post("/auth/login", json={"email": email, "password": "another-password-1"})
    assert new.status_code == 200


def test_a_socket_without_a_token_is_closed_if_the_first_message_is_not_one(
    app_client: TestClient,
) -> None:
    user_id, _email, _token = signup(app_client)
    with app_client.websocket_connect(f"/ws/{user_id}") as socket:
        socket.send_json({"action": "auth", "token": "not.a.token"})
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert (closed.value.code, closed.value.reason) == (1008, "invalid token")


async def test_ending_sessions_moves_the_generation_and_revokes_refresh_tokens(
    storage: Storage,
) -> None:
    user = await storage.create_user(f"gen-{uuid.uuid4().hex[:8]}@example.com", "hash", None)
    assert user.session_generation == 0
    now = datetime.now(UTC)
    await storage.store_refresh_token("tok-" + uuid.uuid4().hex, user.id, "fam", now, now, 0)
    assert await storage.end_sessions(user.id, now) == 1
    assert await storage.end_sessions(user.id, now, "new-hash") == 2
    assert await storage.session_generations([user.id, 999_999]) == {user.id: 2}
    fetched = await storage.get_user(user.id)
    assert fetched is not None
    assert fetched.session_generation == 2
    credentials = await storage.get_credentials(user.email)
    assert credentials is not None
    assert credentials.password_hash == "new-hash"
    assert await storage.revoke_user_refresh_tokens(user.id, now) == 0  # already revoked
    assert await storage.end_sessions(999_999, now) is None


def test_a_quiet_socket_still_gets_heartbeats_and_answers_acks(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cloud.api.realtime.HEARTBEAT_INTERVAL_S", 0.2)
    user_id, _email, token = signup(app_client)
    with app_client.websocket_connect(f"/ws/{user_id}?token={token}") as socket:
        assert socket.receive_json()["event"] == "HEARTBEAT"
        socket.send_json({"action": "ack", "alert_id": 1})
        answer = socket.receive_json()
        while answer["event"] == "HEARTBEAT":
            answer = socket.receive_json()
        assert answer == {"event": "ACK_RESULT", "alert_id": 1, "ok": False}
        assert socket.receive_json()["event"] == "HEARTBEAT"
