"""``WS /ws/{user_id}?token=...``: real-time alerts for one signed-in caregiver."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from cloud.api.deps import AppServices
from cloud.api.socket_auth import (
    AUTH_TIMEOUT_S,
    INVALID_TOKEN,
    SocketGrant,
    SocketRefused,
    auth_token,
    grant,
)
from cloud.api.socket_messages import auth_result_message

router = APIRouter(tags=["realtime"])

WEBSOCKET_DESCRIPTION = """
Connect with `ws://HOST/ws/{user_id}` and send the access token as the first message,
`{"action": "auth", "token": ACCESS_TOKEN}` (answered with `{"event": "AUTH_RESULT", "ok": true,
"expires_at"}`), or - as the app contract has it - put it in the URL:
`ws://HOST/ws/{user_id}?token=ACCESS_TOKEN` (never logged either way). The token is checked
before anything else is sent. A socket lives as long as its token; it is closed with code 1008
(policy violation) and a reason the client acts on:

- `token expired` - the token ran out: refresh it (`POST /auth/refresh`) and reconnect. To keep
  the socket instead, send `{"action": "auth", "token": NEW_TOKEN}` on it before it expires
  (answered with `AUTH_RESULT`, which carries the new `expires_at`).
- `session ended` - the user logged out everywhere or changed the password: sign in again.
- `invalid token` - missing, malformed or another user's token: sign in again.

After any reconnection, `GET /alerts` returns what was committed while the socket was closed.

Messages (JSON), one per committed alert, to every connected caregiver of the nursery:

- `CRY_DETECTED` — the documented shape `{"event", "sick_detected", "timestamp",
  "data": {"temperature", "humidity"}}` plus `alert_id`, `device_id` (null for an app upload),
  `message` and, in `data`, `confidence` and `record_id` where known, and on a monitor's cry
  `heard`: what its detector heard, a list of `{"label", "score"}` best first (empty when the
  monitor named nothing).
- `CLIMATE_OUT_OF_RANGE`, `CLIMATE_NORMAL` — the room left or re-entered the safe range
  (`data` names the measure, value and limits).
- `DEVICE_OFFLINE`, `DEVICE_ONLINE` — presence of a nursery device.
- `READING` — a device's newest reading (`data`: temperature, humidity, sound_dbfs_avg,
  sound_dbfs_max, seq), to the device's members, as the collector commits it.
- `LOUD_SOUND`, `DEVICE_FAULT`, `TEST_ALERT` — the loud-sound fallback, a failed device
  self-check (the message says what to check), the installer's test.
- `ALERT_ACKNOWLEDGED` — `{"alert_id", "device_id", "timestamp", "data": {"kind",
  "acknowledged_by"}}`: a caregiver took the alarm; stop alarming.
- `HEARTBEAT` — `{"event": "HEARTBEAT", "timestamp"}` after 25 s without traffic.

Every alert message also carries `needs_ack` (alarms: cry, loud sound, offline),
`escalation_level` and `escalated_to` (set when an unacknowledged alarm is sent again to the
next caregiver) and `times`: `event` (device), `received` (server), `committed` and `sent` (to
this socket).

Clients acknowledge an alarm by sending `{"action": "ack", "alert_id": N}` (answered with
`{"event": "ACK_RESULT", "alert_id", "ok"}`); any other text is ignored. A client that stops
reading loses its oldest queued messages rather than delaying anyone else.
"""


@router.websocket("/ws/{user_id}", name="alerts")
async def alerts_socket(websocket: WebSocket, user_id: int) -> None:
    services: AppServices = websocket.app.state.services

    async def check(token: str) -> SocketGrant:
        return await grant(services.tokens, services.storage, token, user_id)

    # The socket is accepted before the token is checked, so that the client sees the close
    # code and reason rather than a bare HTTP 403 - and so that the token can come in the first
    # message, out of the URL. Nothing is sent before the token passed.
    await websocket.accept()
    url_token = websocket.query_params.get("token")
    try:
        if url_token is not None:
            allowed = await check(url_token)
        else:
            allowed = await check(await _first_message_token(websocket))
            await websocket.send_text(json.dumps(auth_result_message(allowed.expires_at)))
    except SocketRefused as refused:
        with contextlib.suppress(Exception):
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=refused.reason)
        return
    except WebSocketDisconnect:
        return
    await services.broadcaster.serve(websocket, allowed, check)


async def _first_message_token(websocket: WebSocket) -> str:
    """The token of the first message, which must be ``{"action": "auth", "token": ...}``
    and arrive within AUTH_TIMEOUT_S."""
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            text = await websocket.receive_text()
    except TimeoutError:
        raise SocketRefused(INVALID_TOKEN) from None
    except KeyError:  # a binary first message
        raise SocketRefused(INVALID_TOKEN) from None
    token = auth_token(text)
    if token is None:
        raise SocketRefused(INVALID_TOKEN)
    return token
