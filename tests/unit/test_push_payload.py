"""What a push notification says and its push headers: shapes, titles, the heard labels, the
ack action only on alarms, and a payload that always fits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from cloud.push.payload import (
    MAX_PAYLOAD_BYTES,
    PushOptions,
    alert_payload,
    push_options,
)
from cloud.storage.records import StoredAlert

TIME = datetime(2026, 12, 7, 3, 10, 5, 250000, tzinfo=UTC)
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJhbGVydF9hY2sifQ.c2lnbmF0dXJl"
HEARD = [{"label": "Baby cry, infant cry", "score": 0.934}, {"label": "Whimper", "score": 0.41}]


def cry(**changes: Any) -> StoredAlert:
    alert = StoredAlert(
        id=42,
        device_id="nursery-4k7p2x9m1q",
        kind="CRY_DETECTED",
        time=TIME,
        created_at=TIME,
        message="Baby is crying",
        sick_detected=False,
        details={"confidence": 0.97, "temperature": 21.5, "humidity": 48.0, "heard": HEARD},
        needs_ack=True,
    )
    return replace(alert, **changes)


def decoded(payload: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(payload.decode("utf-8"))
    return document


def test_an_alarm_payload_has_the_documented_shape() -> None:
    payload = decoded(alert_payload(cry(), ack_token=TOKEN))
    assert payload == {
        "v": 1,
        "type": "alert",
        "tag": "alert-42",
        "title": "Baby is crying",
        "body": "Baby is crying (Heard: Baby cry, infant cry 93 %, Whimper 41 %)",
        "alert": {
            "id": 42,
            "kind": "CRY_DETECTED",
            "device_id": "nursery-4k7p2x9m1q",
            "time": "2026-12-07T03:10:05.250000Z",
            "needs_ack": True,
            "sick_detected": False,
            "escalation_level": 0,
            "acknowledged_at": None,
        },
        "ack": {"url": "/push/ack", "token": TOKEN},
        "url": "/?alert=42",
    }


def test_the_ack_action_comes_only_with_alarms_and_a_token() -> None:
    notice = cry(kind="CLIMATE_NORMAL", needs_ack=False, details={}, message="Back to normal")
    assert "ack" not in decoded(alert_payload(notice, ack_token=TOKEN))
    assert "ack" not in decoded(alert_payload(cry(), ack_token=None))
    acknowledged = cry(announcement="acknowledged", acknowledged_at=TIME, acknowledged_by=7)
    assert "ack" not in decoded(alert_payload(acknowledged, ack_token=TOKEN))


def test_the_acknowledgement_replaces_the_alarm_and_says_who_took_it() -> None:
    taken = datetime(2026, 12, 7, 3, 12, 40, tzinfo=UTC)
    alert = cry(announcement="acknowledged", acknowledged_at=taken, acknowledged_by=7)
    payload = decoded(alert_payload(alert, ack_token=None, acknowledged_by_name="Anna"))
    assert payload["type"] == "acknowledged"
    # The same tag: the phone replaces the alarm's notification with this one.
    assert payload["tag"] == "alert-42"
    assert payload["title"] == "Acknowledged"
    assert payload["body"] == "Anna took it at 03:12 UTC"
    assert payload["alert"]["acknowledged_at"] == "2026-12-07T03:12:40Z"
    assert payload["url"] == "/?alert=42"
    # The phone says the time in its own zone: it needs the name apart from the body (which
    # stays, in UTC, for a worker that cannot read the time).
    assert payload["taken_by"] == "Anna"
    nameless = decoded(alert_payload(alert, ack_token=None))
    assert nameless["body"] == "Taken at 03:12 UTC"
    assert nameless["taken_by"] is None
    assert "taken_by" not in decoded(alert_payload(cry(), ack_token=TOKEN))


@pytest.mark.parametrize(
    ("changes", "title"),
    [
        ({}, "Baby is crying"),
        ({"sick_detected": True}, "Baby may be sick: crying with fever"),
        ({"kind": "LOUD_SOUND"}, "Loud sound in the nursery"),
        ({"kind": "DEVICE_OFFLINE"}, "Monitor offline"),
        ({"kind": "CLIMATE_OUT_OF_RANGE", "needs_ack": False}, "Room climate out of range"),
        ({"kind": "TEST_ALERT", "needs_ack": False}, "Test alert"),
        ({"kind": "SOMETHING_NEW", "needs_ack": False}, "Something new"),
        ({"announcement": "escalated", "escalation_level": 1}, "Still unanswered: Baby is crying"),
        (
            {"announcement": "escalated", "sick_detected": True},
            "Still unanswered: Baby may be sick: crying with fever",
        ),
        (
            {"announcement": "escalated", "kind": "DEVICE_OFFLINE"},
            "Still unanswered: Monitor offline",
        ),
    ],
)
def test_titles(changes: dict[str, Any], title: str) -> None:
    assert decoded(alert_payload(cry(**changes), ack_token=None))["title"] == title


@pytest.mark.parametrize(
    ("heard", "body"),
    [
        ([], "Baby is crying"),
        (None, "Baby is crying"),
        ("Baby cry", "Baby is crying"),
        ([{"label": "Speech", "score": 0.08}], "Baby is crying (Heard: Speech 8 %)"),
        # Malformed entries are skipped, not shown or fatal.
        (
            [{"label": "", "score": 1}, {"label": "Cough", "score": "high"}, {"score": 0.5},
             {"label": "Nan", "score": float("nan")}, {"label": "Flag", "score": True},
             "Whimper", {"label": "Whimper", "score": 1}],
            "Baby is crying (Heard: Whimper 100 %)",
        ),
    ],
)  # fmt: skip
def test_the_heard_labels_follow_the_message(heard: object, body: str) -> None:
    details: dict[str, object] = {"confidence": 0.9}
    if heard is not None:
        details["heard"] = heard
    assert decoded(alert_payload(cry(details=details), ack_token=None))["body"] == body


def test_a_long_body_is_shortened_to_fit_and_the_structure_is_kept() -> None:
    long_message = "Baby is crying " + "and crying " * 500
    heard = [
        {"label": f'Label number {n} \u00e9\u00e8\u00ea "quoted"', "score": 0.5} for n in range(80)
    ]
    alert = cry(message=long_message, details={"heard": heard})
    payload = alert_payload(alert, ack_token=TOKEN)
    assert len(payload) <= MAX_PAYLOAD_BYTES
    document = decoded(payload)
    assert document["body"].startswith("Baby is crying and crying")
    assert document["body"].endswith("…")
    # Everything else is intact, and the body is as long as the limit allows.
    assert document["ack"] == {"url": "/push/ack", "token": TOKEN}
    assert document["alert"]["id"] == 42
    assert len(payload) > MAX_PAYLOAD_BYTES - 10


def test_multibyte_and_escaped_text_is_measured_in_bytes() -> None:
    for filler in ("\u00e9", "\U0001f476", '"', "\\", "\u0001"):
        alert = cry(message=filler * 4000, details={})
        payload = alert_payload(alert, ack_token=TOKEN, acknowledged_by_name=None)
        assert len(payload) <= MAX_PAYLOAD_BYTES, filler
        body = decoded(payload)["body"]
        assert body.endswith("…")
        assert set(body[:-1]) == {filler}
    # A long name in an acknowledgement is shortened too.
    taken = cry(announcement="acknowledged", acknowledged_at=TIME)
    payload = alert_payload(taken, ack_token=None, acknowledged_by_name="A" * 5000)
    assert len(payload) <= MAX_PAYLOAD_BYTES
    assert decoded(payload)["taken_by"] == "A" * 199 + "…"


def test_a_short_payload_is_not_touched() -> None:
    body = decoded(alert_payload(cry(details={}), ack_token=TOKEN))["body"]
    assert body == "Baby is crying"


@pytest.mark.parametrize(
    ("changes", "options"),
    [
        ({}, PushOptions(900, "high", "alert-42")),
        ({"kind": "DEVICE_OFFLINE"}, PushOptions(900, "high", "alert-42")),
        ({"needs_ack": False, "sick_detected": True}, PushOptions(900, "high", "alert-42")),
        (
            {"kind": "CLIMATE_OUT_OF_RANGE", "needs_ack": False},
            PushOptions(3600, "normal", "alert-42"),
        ),
        # The device's test alert travels like an alarm: it checks that alarms wake the phone.
        ({"kind": "TEST_ALERT", "needs_ack": False}, PushOptions(900, "high", "alert-42")),
        ({"announcement": "escalated"}, PushOptions(900, "high", "alert-42")),
        ({"announcement": "acknowledged", "id": 7}, PushOptions(900, "high", "alert-7")),
        (
            {"announcement": "acknowledged", "needs_ack": False},
            PushOptions(3600, "high", "alert-42"),
        ),
    ],
)
def test_push_options(changes: dict[str, Any], options: PushOptions) -> None:
    assert push_options(cry(**changes)) == options
