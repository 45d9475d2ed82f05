"""A sign-in in flight does not outlive a logout everywhere or a new password, on both storage
backends: a login that read the credentials (and the sign-in generation) before the sessions
ended gets no session, and a refresh token of an older generation is refused and its family
revoked. The race is made deterministic by ending the sessions while the login's argon2 check
runs - where a real attacker's looping login would be."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from anyio.from_thread import BlockingPortal
from fastapi.testclient import TestClient

from cloud.api.deps import AppServices
from cloud.storage import Storage

PASSWORD = "testPassword123"
NEW_PASSWORD = "another-password-1"


def services_of(app_client: TestClient) -> AppServices:
    services: AppServices = app_client.app.state.services  # type: ignore[attr-defined]
    return services


def portal_of(app_client: TestClient) -> BlockingPortal:
    """Runs coroutines on the app's event loop (where its storage pool lives)."""
    assert app_client.portal is not None
    return app_client.portal


def signup(app_client: TestClient) -> tuple[int, str]:
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    created = app_client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    return int(created.json()["id"]), email


def end_sessions_during_the_next_password_check(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch, user_id: int, new_password: str | None
) -> None:
    """The victim's logout everywhere (or new password) commits while the next login's argon2
    check runs: after that login read the credentials, before it stores its refresh token."""
    services = services_of(app_client)
    verify = services.passwords.verify
    pending = [True]

    async def verify_then_end_sessions(password: str, password_hash: str | None) -> bool:
        valid = await verify(password, password_hash)
        if pending.pop() if pending else False:
            new_hash = None if new_password is None else services.hasher.hash(new_password)
            assert await services.storage.end_sessions(user_id, datetime.now(UTC), new_hash)
        return valid

    monkeypatch.setattr(services.passwords, "verify", verify_then_end_sessions)


@pytest.mark.parametrize("new_password", [None, NEW_PASSWORD], ids=["logout-all", "password"])
def test_a_login_in_flight_when_the_sessions_end_gets_no_session(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch, new_password: str | None
) -> None:
    user_id, email = signup(app_client)
    end_sessions_during_the_next_password_check(app_client, monkeypatch, user_id, new_password)
    in_flight = app_client.post("/auth/login", json={"email": email, "password": PASSWORD})
    # Before the fix: 200, and its refresh token turned into a current-generation access token.
    if in_flight.status_code == 200:
        refreshed = app_client.post(
            "/auth/refresh", json={"refresh_token": in_flight.json()["refresh_token"]}
        )
        pytest.fail(f"the in-flight login got a session; refreshing it answered {refreshed}")
    assert in_flight.status_code == 401, in_flight.text
    assert "sign in again" in in_flight.json()["detail"]

    # A sign-in after the end works as ever, and so does refreshing it.
    fresh = app_client.post(
        "/auth/login", json={"email": email, "password": new_password or PASSWORD}
    )
    assert fresh.status_code == 200, fresh.text
    rotated = app_client.post(
        "/auth/refresh", json={"refresh_token": fresh.json()["refresh_token"]}
    )
    assert rotated.status_code == 200, rotated.text
    access = rotated.json()["access_token"]
    assert services_of(app_client).tokens.access_claims(access).generation == 1
    me = app_client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200
    assert me.json()["id"] == user_id


def test_a_refresh_token_of_an_ended_generation_is_refused_and_its_family_revoked(
    app_client: TestClient,
) -> None:
    """A refresh token stored alive for an older generation - as a login racing the end stored
    it before this check existed (its token has no ``gen``: generation 0) - is refused."""
    user_id, email = signup(app_client)
    session = app_client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    assert app_client.post("/auth/logout-all", headers=bearer).status_code == 204

    services = services_of(app_client)
    stale = services.tokens.issue_refresh_token(user_id, 0)
    stored_alive = portal_of(app_client).call(
        services.storage.store_refresh_token,
        stale.token_id,
        user_id,
        stale.family_id,
        stale.issued_at,
        stale.expires_at,
        1,  # the current generation: the pre-fix store did not compare it
    )
    assert stored_alive
    refused = app_client.post("/auth/refresh", json={"refresh_token": stale.token})
    assert refused.status_code == 401, refused.text
    # Its family is revoked: the successor a racing rotation might store is born revoked.
    successor = services.tokens.issue_refresh_token(user_id, 1, stale.family_id)
    assert not portal_of(app_client).call(
        services.storage.store_refresh_token,
        successor.token_id,
        user_id,
        successor.family_id,
        successor.issued_at,
        successor.expires_at,
        1,
    )
    # The user's current sign-ins are untouched.
    fresh = app_client.post("/auth/login", json={"email": email, "password": PASSWORD}).json()
    rotated = app_client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert rotated.status_code == 200, rotated.text


async def test_a_refresh_token_for_a_moved_on_generation_is_stored_revoked(
    storage: Storage,
) -> None:
    user = await storage.create_user(f"race-{uuid.uuid4().hex[:8]}@example.com", "hash", None)
    now = datetime.now(UTC)
    in_flight, later, family_a, family_b = (uuid.uuid4().hex for _ in range(4))
    assert await storage.end_sessions(user.id, now) == 1
    assert not await storage.store_refresh_token(in_flight, user.id, family_a, now, now, 0)
    assert await storage.use_refresh_token(in_flight, now) == ("revoked", user.id)
    assert await storage.store_refresh_token(
        later, user.id, family_b, now, now.replace(year=2100), 1
    )
    assert await storage.use_refresh_token(later, now) == ("ok", user.id)
