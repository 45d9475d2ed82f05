"""The optional ``heard`` of an event: bounded, backward compatible both ways, and what the
collector makes of it (a row carrying the labels, or a dead letter naming the problem)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import create_model

from cloud.alerting import DeviceRules, evaluate_batch
from cloud.collector.decode import to_ingest_item
from cloud.rules import NurserySettings
from cloud.storage.records import DeadLetter, EventRow, HeardLabel
from models.contract import (
    MAX_HEARD_LABELS,
    SCHEMA_VERSION,
    ContractError,
    Envelope,
    Event,
    MessageKind,
    decode_message,
    topic_for,
)
from models.contract import HeardLabel as WireLabel

DEVICE = "nursery-4f2a9c"
NOW = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
TOPIC = topic_for(DEVICE, MessageKind.EVENT)
HEARD = [
    {"label": "Baby cry, infant cry", "score": 0.93},
    {"label": "Whimper", "score": 0.41},
    {"label": "Speech", "score": 0.08},
]


def cry_started(**fields: Any) -> bytes:
    document: dict[str, Any] = {
        "schema_version": 1, "device_id": DEVICE, "seq": 7, "ts": NOW.isoformat(),
        "kind": "cry_started", "episode_id": 7, "confidence": 0.93,
    }  # fmt: skip
    document.update(fields)
    return json.dumps(document).encode()


def test_heard_is_decoded_in_order_and_kept_out_of_the_json_when_absent() -> None:
    event = decode_message(TOPIC, cry_started(heard=HEARD))
    assert isinstance(event, Event)
    assert event.heard == [WireLabel(**item) for item in HEARD]
    assert json.loads(event.to_json())["heard"] == HEARD
    old = decode_message(TOPIC, cry_started())
    assert isinstance(old, Event)
    assert old.heard is None
    assert "heard" not in json.loads(old.to_json())


def test_the_schema_version_stays_one_and_an_older_reader_accepts_a_newer_message() -> None:
    assert SCHEMA_VERSION == 1
    # The Event model as a collector before `heard` had it: the same fields without it.
    fields: Any = {
        name: (field.annotation, field)
        for name, field in Event.model_fields.items()
        if name not in Envelope.model_fields and name != "heard"
    }
    older_event = create_model("OlderEvent", __base__=Envelope, **fields)
    older = older_event.model_validate_json(cry_started(heard=HEARD))
    assert older.model_dump()["confidence"] == 0.93
    assert "heard" not in older.model_dump()


@pytest.mark.parametrize(
    ("heard", "reason"),
    [
        ([{"label": f"Label {n}", "score": 0.1} for n in range(MAX_HEARD_LABELS + 1)], "heard"),
        ([{"label": "Whimper", "score": 1.5}], "heard.0.score"),
        ([{"label": "Whimper", "score": -0.1}], "heard.0.score"),
        ([{"label": "", "score": 0.5}], "heard.0.label"),
        ([{"label": "x" * 65, "score": 0.5}], "heard.0.label"),
        ([{"label": "Baby\u0000cry", "score": 0.5}], "NUL"),
        ([{"label": "Whimper"}], "heard.0.score"),
        ([{"score": 0.5}], "heard.0.label"),
        ({"label": "Whimper", "score": 0.5}, "heard"),
        (["Whimper"], "heard.0"),
    ],
)
def test_invalid_heard_labels_are_refused_with_a_reason(heard: object, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        decode_message(TOPIC, cry_started(heard=heard))


def test_nan_and_infinite_scores_are_refused() -> None:
    for number in (b"NaN", b"Infinity"):
        raw = cry_started(heard=[{"label": "Whimper", "score": 0.25}]).replace(b"0.25", number)
        with pytest.raises(ContractError, match="score"):
            decode_message(TOPIC, raw)


@pytest.mark.parametrize(
    "heard",
    [
        [{"label": f"Label {n}", "score": 0.1} for n in range(6)],
        [{"label": "Whimper", "score": 1.5}],
        [{"label": "", "score": 0.5}],
    ],
)
def test_the_collector_dead_letters_invalid_labels_with_the_message(heard: object) -> None:
    raw = cry_started(heard=heard)
    item = to_ingest_item(TOPIC, raw, NOW)
    assert isinstance(item, DeadLetter)
    assert item.error.startswith("heard"), item.error
    assert item.payload == raw


def test_the_collector_keeps_the_labels_and_an_old_message_has_none() -> None:
    row = to_ingest_item(TOPIC, cry_started(heard=HEARD), NOW)
    assert isinstance(row, EventRow)
    assert row.heard == (
        HeardLabel("Baby cry, infant cry", 0.93),
        HeardLabel("Whimper", 0.41),
        HeardLabel("Speech", 0.08),
    )
    old = to_ingest_item(TOPIC, cry_started(), NOW)
    assert isinstance(old, EventRow)
    assert old.heard == ()


def test_the_cry_alert_says_what_the_detector_heard() -> None:
    row = to_ingest_item(TOPIC, cry_started(heard=HEARD), NOW)
    assert isinstance(row, EventRow)
    [alert] = evaluate_batch({DEVICE: DeviceRules(NurserySettings())}, [], [row], [])
    assert alert.kind == "CRY_DETECTED"
    assert alert.details["confidence"] == 0.93
    assert alert.details["heard"] == HEARD
    # The alert goes out over PostgreSQL NOTIFY and is stored as JSON: plain JSON values only.
    assert json.loads(json.dumps(alert.details))["heard"] == HEARD
