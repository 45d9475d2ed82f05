"""``WS /ws/{user_id}?token=...``: real-time alerts for one signed-in caregiver."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket, status

from cloud.api.deps import AppServices
from cloud.api.security import InvalidTokenError

router = APIRouter(tags=["realtime"])

WEBSOCKET_DESCRIPTION = """
Connect with `ws://HOST/ws/{user_id}?token=ACCESS_TOKEN`. The token is checked before anything
is sent: a missing, invalid or expired token, or one issued to another user, closes the socket
with code 1008 (policy violation).

Messages (JSON), one per committed alert, to every connected caregiver of the nursery:

- `CRY_DETECTED` — the documented shape `{"event", "sick_detected", "timestamp",
  "data": {"temperature", "humidity"}}` plus `alert_id`, `device_id` (null for an app upload),
  `message` and, in `data`, `confidence` and `record_id` where known.
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
    token = websocket.query_params.get("token", "")
    try:
        token_user = services.tokens.verify_access_token(token)
    except InvalidTokenError:
        token_user = None
    user = None if token_user != user_id else await services.storage.get_user(user_id)
    # The decision is made before the handshake completes; the socket is accepted only so the
    # client sees the close code and reason rather than a bare HTTP 403.
    await websocket.accept()
    if user is None:
        await websocket.close(
            code=status.WS_1008_POLICY_VIOLATION, reason="invalid token for this user"
        )
        return
    await services.broadcaster.serve(websocket, user_id)
