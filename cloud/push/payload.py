"""What a push notification says (docs/api.md, "Push notifications"): the JSON the service
worker receives, encrypted end to end (RFC 8291), and the push request's headers.

The wording follows the dashboard and the WebSocket alerts: the alert's own message, then what
the detector heard in the dashboard's words ("Heard: Baby cry 93 %, Whimper 41 %").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloud.storage.records import StoredAlert

PAYLOAD_VERSION = 1
# Push services take 4 KB after encryption (RFC 8291 adds 86 bytes and more with padding);
# staying under 3000 leaves room, and a phone shows a few lines anyway.
MAX_PAYLOAD_BYTES = 2999
ACK_URL = "/push/ack"
# Seconds the push service keeps a message for a phone that is offline: an alarm older than 15
# minutes is news, not an alarm; a notice may wait an hour.
ALARM_TTL_S = 900
NOTICE_TTL_S = 3600
ELLIPSIS = "…"
# What an account's name may be (the registration's limit): ``taken_by`` cannot crowd out the
# rest of the payload.
MAX_NAME_CHARACTERS = 200

TITLES = {
    "CRY_DETECTED": "Baby is crying",
    "LOUD_SOUND": "Loud sound in the nursery",
    "DEVICE_OFFLINE": "Monitor offline",
    "DEVICE_ONLINE": "Monitor back online",
    "DEVICE_FAULT": "Monitor needs a check",
    "CLIMATE_OUT_OF_RANGE": "Room climate out of range",
    "CLIMATE_NORMAL": "Room climate back to normal",
    "TEST_ALERT": "Test alert",
}
SICK_TITLE = "Baby may be sick: crying with fever"
ESCALATED_PREFIX = "Still unanswered: "
ACKNOWLEDGED_TITLE = "Acknowledged"
TEST_ALERT_KIND = "TEST_ALERT"


@dataclass(frozen=True, slots=True)
class PushOptions:
    """The push request's headers (RFC 8030 section 5): ``TTL`` seconds, ``Urgency`` and
    ``Topic`` (a queued message with the same topic is replaced, so an alarm still waiting at
    the push service is replaced by its acknowledgement)."""

    ttl: int
    urgency: str
    topic: str


def _is_alarm(alert: StoredAlert) -> bool:
    """Rings like an alarm: alarms, "may be sick", and the device's test alert - a parent runs
    ``nursery-edge test-alert`` to check that an alarm wakes the locked phone, so it must
    travel and ring as one (it needs no acknowledgement)."""
    return alert.needs_ack or alert.sick_detected or alert.kind == TEST_ALERT_KIND


def push_options(alert: StoredAlert) -> PushOptions:
    urgent = _is_alarm(alert) or alert.announcement == "acknowledged"
    return PushOptions(
        ttl=ALARM_TTL_S if _is_alarm(alert) else NOTICE_TTL_S,
        urgency="high" if urgent else "normal",
        topic=f"alert-{alert.id}",
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def title(alert: StoredAlert) -> str:
    """The notification's title: what happened, in words (unknown kinds: the kind, readable)."""
    if alert.kind == "CRY_DETECTED" and alert.sick_detected:
        text = SICK_TITLE
    else:
        text = TITLES.get(alert.kind) or alert.kind.replace("_", " ").strip().capitalize()
    if alert.announcement == "escalated":
        text = ESCALATED_PREFIX + text
    return text


def heard_text(details: dict[str, object]) -> str:
    """What the detector heard, as the dashboard says it (heard.js): "Heard: Baby cry 93 %,
    Whimper 41 %"; empty when the alert names nothing."""
    heard = details.get("heard")
    if not isinstance(heard, list):
        return ""
    parts = []
    for item in heard:
        if not isinstance(item, dict):
            continue
        label, score = item.get("label"), item.get("score")
        if not isinstance(label, str) or not label or isinstance(score, bool):
            continue
        if not isinstance(score, int | float) or not math.isfinite(score):
            continue
        parts.append(f"{label} {round(score * 100)} %")
    return f"Heard: {', '.join(parts)}" if parts else ""


def _alert_body(alert: StoredAlert) -> str:
    heard = heard_text(alert.details)
    return f"{alert.message} ({heard})" if heard else alert.message


def _shortened(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def _acknowledged_body(alert: StoredAlert, name: str | None) -> str:
    who = f"{name} took it" if name else "Taken"
    if alert.acknowledged_at is None:
        return who
    # The server does not know the phone's time zone: say which one the time is in. The
    # dashboard's worker says it in the phone's zone instead (``taken_by`` and
    # ``alert.acknowledged_at``); this is what other clients and older workers show.
    return f"{who} at {alert.acknowledged_at.astimezone(UTC):%H:%M} UTC"


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _fit(document: dict[str, Any], field: str) -> bytes:
    """``document`` encoded, with ``field`` (a text) shortened until the whole fits
    ``MAX_PAYLOAD_BYTES``; the JSON structure is never cut."""
    encoded = _encode(document)
    if len(encoded) <= MAX_PAYLOAD_BYTES:
        return encoded
    text: str = document[field]
    # The longest prefix that fits, found by bisection (escaping makes bytes per character
    # uneven, so the size is measured, not computed).
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        candidate = _encode({**document, field: text[:middle].rstrip() + ELLIPSIS})
        if len(candidate) <= MAX_PAYLOAD_BYTES:
            low = middle
        else:
            high = middle - 1
    encoded = _encode({**document, field: text[:low].rstrip() + ELLIPSIS})
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"the push payload of alert {document.get('tag')} cannot fit")
    return encoded


def alert_payload(
    alert: StoredAlert, *, ack_token: str | None, acknowledged_by_name: str | None = None
) -> bytes:
    """The notification's JSON, UTF-8, at most ``MAX_PAYLOAD_BYTES`` (the body is shortened to
    fit). ``type`` is "acknowledged" for an acknowledgement (the phone replaces the alarm's
    notification, same ``tag``; ``taken_by`` is the taker's name or null), else "alert";
    ``ack`` (the action's URL and token) only for an alarm that needs acknowledging and a
    token given."""
    acknowledged = alert.announcement == "acknowledged"
    document: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "type": "acknowledged" if acknowledged else "alert",
        "tag": f"alert-{alert.id}",
        "title": ACKNOWLEDGED_TITLE if acknowledged else title(alert),
        "body": (
            _acknowledged_body(alert, acknowledged_by_name) if acknowledged else _alert_body(alert)
        ),
        "alert": {
            "id": alert.id,
            "kind": alert.kind,
            "device_id": alert.device_id,
            "time": _iso(alert.time),
            "needs_ack": alert.needs_ack,
            "sick_detected": alert.sick_detected,
            "escalation_level": alert.escalation_level,
            "acknowledged_at": _iso(alert.acknowledged_at),
        },
        "url": f"/?alert={alert.id}",
    }
    if acknowledged:
        # Apart from the body, so that the phone can say the time in its own zone.
        document["taken_by"] = _shortened(acknowledged_by_name, MAX_NAME_CHARACTERS)
    if alert.needs_ack and not acknowledged and ack_token is not None:
        document["ack"] = {"url": ACK_URL, "token": ack_token}
    return _fit(document, "body")
