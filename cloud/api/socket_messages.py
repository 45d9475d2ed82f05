"""The JSON messages a WebSocket client receives (docs/api.md, "WebSocket"): alerts, readings,
heartbeats and the answers to what the client sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cloud.storage.records import StoredAlert, TelemetryRow

Message = dict[str, Any]


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional_iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_time(moment)


def acknowledged_message(alert: StoredAlert) -> Message:
    """Someone took the alarm: every member's screen stops alarming."""
    return {
        "event": "ALERT_ACKNOWLEDGED",
        "timestamp": _optional_iso(alert.acknowledged_at),
        "alert_id": alert.id,
        "device_id": alert.device_id,
        "data": {"kind": alert.kind, "acknowledged_by": alert.acknowledged_by},
    }


def alert_message(alert: StoredAlert) -> Message:
    """The WebSocket message for an alert. ``CRY_DETECTED`` keeps the documented shape
    (``event``, ``sick_detected``, ``timestamp``, ``data.temperature``/``data.humidity``); the
    other fields are additions older clients ignore."""
    if alert.announcement == "acknowledged":
        return acknowledged_message(alert)
    details = dict(alert.details)
    message: Message = {
        "event": alert.kind,
        "sick_detected": alert.sick_detected,
        "timestamp": iso_time(alert.time),
        "data": {
            "temperature": details.pop("temperature", None),
            "humidity": details.pop("humidity", None),
            **details,
        },
        "alert_id": alert.id,
        "device_id": alert.device_id,
        "message": alert.message,
        "needs_ack": alert.needs_ack,
        "escalation_level": alert.escalation_level,
        "escalated_to": alert.targets[-1] if alert.announcement == "escalated" else None,
        # "sent" is added per socket as the message is written (ClientConnection).
        "times": {
            "event": iso_time(alert.time),
            "received": _optional_iso(alert.received_at),
            "committed": iso_time(alert.created_at),
        },
    }
    return message


def with_sent_time(message: str, sent_at: datetime) -> str:
    """The serialised alert with ``times.sent`` filled in for one socket: a splice into the
    text encoded once for all sockets, instead of encoding it again per socket."""
    return message.replace('"times":{', f'"times":{{"sent":"{iso_time(sent_at)}",', 1)


def reading_message(row: TelemetryRow) -> Message:
    """A device's newest reading, so screens update without polling."""
    return {
        "event": "READING",
        "timestamp": iso_time(row.time),
        "device_id": row.device_id,
        "data": {
            "temperature": row.temperature,
            "humidity": row.humidity,
            "sound_dbfs_avg": row.sound_dbfs_avg,
            "sound_dbfs_max": row.sound_dbfs_max,
            "seq": row.seq,
        },
    }


def heartbeat_message() -> Message:
    return {"event": "HEARTBEAT", "timestamp": iso_time(datetime.now(UTC))}


def auth_result_message(expires_at: datetime | None, error: str | None = None) -> Message:
    """The answer to ``{"action": "auth", "token": ...}``: until when the socket may stay open
    now, or why the token was refused (the socket keeps its previous deadline)."""
    if expires_at is None:
        return {"event": "AUTH_RESULT", "ok": False, "error": error}
    return {"event": "AUTH_RESULT", "ok": True, "expires_at": iso_time(expires_at)}
