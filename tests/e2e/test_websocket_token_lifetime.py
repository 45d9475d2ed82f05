"""An open WebSocket lives no longer than its access token (issue 27, finding 5).

Real processes: two `nursery-cloud api` (uvicorn) on one PostgreSQL database, as in production
with several API processes. Logging out everywhere, on either process, or changing the password
closes the sockets on both with 1008 ``session ended``; a token's expiry closes its socket with
1008 ``token expired``; a fresh token sent on the socket keeps it, and a client that reconnects
finds what was committed meanwhile in ``GET /alerts``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from cloud.api.security import TokenIssuer
from cloud.storage import open_storage
from cloud.storage.records import UploadRow
from tests.harness.api_process import start_api, stop_all_cleanly, wait_until_serving

SECRET = "websocket-token-lifetime-secret-0123456789-abcdef"
PASSWORD = "testPassword123"
# A revocation on another process is seen within its check interval (5 s) plus slack.
CLOSE_WITHIN_S = 15.0


@pytest.fixture
def two_apis(database_url: str, tmp_path: Path) -> Iterator[list[str]]:
    apis = [
        start_api(database_url, SECRET, tmp_path, log_name=f"api-{index}.log") for index in range(2)
    ]
    try:
        wait_until_serving(apis)
        yield [api.url for api in apis]
    finally:
        stop_all_cleanly(apis)


async def signup(http: httpx.AsyncClient, api: str) -> tuple[int, str, dict[str, Any]]:
    """(user id, e-mail, login answer) of a new account."""
    email = f"ws-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD}
    user = (await http.post(f"{api}/auth/register", json=body)).json()
    login = await http.post(f"{api}/auth/login", json=body)
    assert login.status_code == 200, login.text
    return int(user["id"]), email, login.json()


def socket_url(api: str, user_id: int, token: str | None = None) -> str:
    url = f"{api.replace('http://', 'ws://')}/ws/{user_id}"
    return url if token is None else f"{url}?token={token}"


async def closed_with(socket: ClientConnection, within_s: float) -> tuple[int | None, str | None]:
    """Read (and drop) messages until the server closes the socket: its code and reason.
    A socket still open after ``within_s`` fails the test."""

    async def drain() -> None:
        try:
            async for _ in socket:
                pass
        except websockets.ConnectionClosed:
            pass

    try:
        await asyncio.wait_for(drain(), within_s)
    except TimeoutError:
        pytest.fail(f"the socket is still open after {within_s} s")
    return socket.close_code, socket.close_reason


async def next_event(
    socket: ClientConnection, event: str, within_s: float, alert_id: int | None = None
) -> dict[str, Any]:
    """The next message of this event (and alert); others are skipped - the announcement of
    an alert committed just before the socket opened may still arrive on it."""

    async def read() -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await socket.recv())
            if message["event"] == event and alert_id in (None, message.get("alert_id")):
                return message

    return await asyncio.wait_for(read(), within_s)


async def publish_crying_upload(database_url: str, user_id: int) -> int:
    """Commit an alert for the user the way the API does for a crying upload (announced to
    every API process through PostgreSQL NOTIFY); its id."""
    storage = await open_storage(database_url)
    try:
        _record, alert = await storage.add_upload(
            UploadRow(
                user_id=user_id,
                time=datetime.now(UTC),
                temperature=38.4,
                humidity=55.0,
                notes=None,
                audio_url=None,
                cry_detected=True,
                sick_detected=True,
                cry_confidence=0.97,
            )
        )
    finally:
        await storage.close()
    assert alert is not None
    return alert.id


async def test_logout_all_closes_the_sockets_on_this_and_another_api_process(
    two_apis: list[str],
) -> None:
    first, second = two_apis
    async with httpx.AsyncClient(timeout=30) as http:
        user_id, _email, login = await signup(http, first)
        token = login["access_token"]
        async with (
            websockets.connect(socket_url(first, user_id, token)) as here,
            websockets.connect(socket_url(second, user_id, token)) as there,
        ):
            ended = await http.post(
                f"{first}/auth/logout-all", headers={"Authorization": f"Bearer {token}"}
            )
            assert ended.status_code == 204, ended.text
            assert await closed_with(here, CLOSE_WITHIN_S) == (1008, "session ended")
            assert await closed_with(there, CLOSE_WITHIN_S) == (1008, "session ended")
        # The same token opens no new socket, on either process, and no REST call either.
        for api in two_apis:
            async with websockets.connect(socket_url(api, user_id, token)) as again:
                assert await closed_with(again, CLOSE_WITHIN_S) == (1008, "session ended")
        me = await http.get(f"{second}/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401


async def test_a_password_change_closes_the_sockets_and_keeps_the_changer_signed_in(
    two_apis: list[str],
) -> None:
    first, second = two_apis
    async with httpx.AsyncClient(timeout=30) as http:
        user_id, email, login = await signup(http, first)
        token = login["access_token"]
        async with websockets.connect(socket_url(second, user_id, token)) as socket:
            changed = await http.post(
                f"{first}/auth/password",
                headers={"Authorization": f"Bearer {token}"},
                json={"current_password": PASSWORD, "new_password": "a-new-password-456"},
            )
            assert changed.status_code == 200, changed.text
            assert await closed_with(socket, CLOSE_WITHIN_S) == (1008, "session ended")
        # The answer is a session of the new generation: it opens a socket.
        fresh = changed.json()["access_token"]
        async with websockets.connect(socket_url(second, user_id)) as socket:
            await socket.send(json.dumps({"action": "auth", "token": fresh}))
            assert (await next_event(socket, "AUTH_RESULT", 10))["ok"] is True
        old_login = await http.post(
            f"{first}/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert old_login.status_code == 401


async def test_a_socket_closes_when_its_token_expires_and_a_reconnection_misses_nothing(
    two_apis: list[str], database_url: str
) -> None:
    api = two_apis[0]
    short_lived = TokenIssuer(SECRET, "HS256", access_ttl=timedelta(seconds=3))
    async with httpx.AsyncClient(timeout=30) as http:
        user_id, _email, login = await signup(http, api)
        async with websockets.connect(
            socket_url(api, user_id, short_lived.issue_access_token(user_id))
        ) as socket:
            assert await closed_with(socket, CLOSE_WITHIN_S) == (1008, "token expired")
        # Committed while no socket was open.
        missed = await publish_crying_upload(database_url, user_id)
        # The app reconnects with a fresh token and fetches what it missed.
        async with websockets.connect(socket_url(api, user_id)) as socket:
            await socket.send(json.dumps({"action": "auth", "token": login["access_token"]}))
            assert (await next_event(socket, "AUTH_RESULT", 10))["ok"] is True
            alerts = await http.get(
                f"{api}/alerts", headers={"Authorization": f"Bearer {login['access_token']}"}
            )
            assert missed in [alert["id"] for alert in alerts.json()]
            live = await publish_crying_upload(database_url, user_id)
            assert await next_event(socket, "CRY_DETECTED", 10, alert_id=live)


async def test_a_fresh_token_sent_on_the_socket_keeps_it_open_past_the_old_expiry(
    two_apis: list[str], database_url: str
) -> None:
    api = two_apis[0]
    short_lived = TokenIssuer(SECRET, "HS256", access_ttl=timedelta(seconds=3))
    async with httpx.AsyncClient(timeout=30) as http:
        user_id, _email, login = await signup(http, api)
        async with websockets.connect(
            socket_url(api, user_id, short_lived.issue_access_token(user_id))
        ) as socket:
            await socket.send(json.dumps({"action": "auth", "token": login["access_token"]}))
            renewed = await next_event(socket, "AUTH_RESULT", 10)
            assert renewed["ok"] is True
            await asyncio.sleep(4)  # past the first token's expiry
            alert_id = await publish_crying_upload(database_url, user_id)
            assert await next_event(socket, "CRY_DETECTED", 10, alert_id=alert_id)
            # Another user's token does not take the socket over.
            _other_id, _other_email, other = await signup(http, api)
            await socket.send(json.dumps({"action": "auth", "token": other["access_token"]}))
            refused = await next_event(socket, "AUTH_RESULT", 10)
            assert refused == {"event": "AUTH_RESULT", "ok": False, "error": "invalid token"}
