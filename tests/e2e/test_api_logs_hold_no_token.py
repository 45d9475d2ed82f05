"""No access token reaches the API's logs (issue 27, finding 6).

A real `nursery-cloud api` process - uvicorn with the logging the CLI configures, in both
formats - serves WebSockets opened with ``?token=`` (accepted, refused, another secret's token)
and an HTTP request carrying a token in its query string; the captured output holds none of
the tokens, though it does record the connections.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import websockets

from cloud.api.security import TokenIssuer
from tests.harness.api_process import start_api, stop_all_cleanly, wait_until_serving

SECRET = "api-logs-hold-no-token-secret-0123456789-abcdefgh"
PASSWORD = "testPassword123"


async def exercise(api: str) -> list[str]:
    """Open sockets and send requests with tokens in their URLs; the tokens used."""
    async with httpx.AsyncClient(timeout=30) as http:
        body = {"email": f"logs-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
        user_id = (await http.post(f"{api}/auth/register", json=body)).json()["id"]
        login = (await http.post(f"{api}/auth/login", json=body)).json()
        good = login["access_token"]
        foreign = TokenIssuer("another-secret-" + "x" * 40, "HS256", timedelta(minutes=5))
        forged = foreign.issue_access_token(user_id)
        ws = api.replace("http://", "ws://")
        async with websockets.connect(f"{ws}/ws/{user_id}?token={good}") as socket:
            with pytest.raises(TimeoutError):  # accepted and quiet: nothing to report yet
                await asyncio.wait_for(socket.recv(), 0.5)
        async with websockets.connect(f"{ws}/ws/{user_id}?token={forged}") as socket:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 10)
            assert socket.close_code == 1008
        await http.get(
            f"{api}/auth/me", params={"token": good, "refresh_token": login["refresh_token"]}
        )
    return [good, forged, login["refresh_token"]]


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_the_api_logs_hold_no_token(
    database_url: str, tmp_path: Path, log_format: str
) -> None:
    api = start_api(database_url, SECRET, tmp_path, global_options=["--log-format", log_format])
    try:
        wait_until_serving([api])
        tokens = await exercise(api.url)
    finally:
        stop_all_cleanly([api])
    logs = api.process.output()
    assert "/ws/" in logs, logs  # the connections were logged: the check below means something
    for token in tokens:
        assert token not in logs, logs
        # Nor the signed part alone (a log line cut at the first dot would still leak it).
        assert token.split(".")[1] not in logs, logs
