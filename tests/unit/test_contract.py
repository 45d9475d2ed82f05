"""The wire contract: topics, delivery policies and payload validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from models.contract import (
    DELIVERY_POLICIES,
    MAX_PAYLOAD_BYTES,
    PAYLOAD_MODELS,
    ContractError,
    Event,
    MessageKind,
    Status,
    Telemetry,
    decode_message,
    kind_of,
    parse_topic,
    subscription_filter,
    topic_for,
)

DEVICE = "nursery-4f2a9c"
TS = datetime(2026, 11, 23, 2, 10, tzinfo=UTC)


def telemetry_json(**overrides: object) -> bytes:
    document: dict[str, object] = {
        "schema_version": 1,
        "device_id": DEVICE,
        "seq": 5,
        "ts": "2026-11-23T02:10:00Z",
        "temperature_c": 21.5,
        "humidity_pct": 40.0,
    }
    document.update(overrides)
    return json.dumps(document).encode()


@pytest.mark.parametrize("kind", list(MessageKind))
def test_topic_round_trip(kind: MessageKind) -> None:
    topic = topic_for(DEVICE, kind)
    assert topic == f"nursery/v1/{DEVICE}/{kind.value}"
    parsed = parse_topic(topic)
    assert (parsed.device_id, parsed.kind) == (DEVICE, kind)


@pytest.mark.parametrize(
    "topic",
    [
        "nursery/v2/nursery-1a/telemetry",
        "nursery/v1/nursery-1a/telemetry/extra",
        "nursery/v1/nursery-1a/unknown",
        "nursery/v1/+/telemetry",
        "nursery/v1/Nursery-1a/telemetry",
        "nursery/v1//telemetry",
    ],
)
def test_invalid_topics_are_rejected(topic: str) -> None:
    with pytest.raises(ContractError):
        parse_topic(topic)


@pytest.mark.parametrize("device_id", ["ab", "a/b", "a+b", "a#b", "UPPER", "-leading", "x" * 65])
def test_device_ids_that_cannot_be_topic_levels_are_rejected(device_id: str) -> None:
    with pytest.raises(ContractError):
        topic_for(device_id, MessageKind.TELEMETRY)


def test_every_kind_has_a_policy_and_a_model() -> None:
    assert set(DELIVERY_POLICIES) == set(MessageKind) == set(PAYLOAD_MODELS)
    assert all(policy.qos == 1 for policy in DELIVERY_POLICIES.values())
    retained = {kind for kind, policy in DELIVERY_POLICIES.items() if policy.retain}
    assert retained == {
        MessageKind.STATUS,
        MessageKind.DESIRED_CONFIG,
        MessageKind.REPORTED_CONFIG,
        MessageKind.IGNORE_LIST,
    }


def test_shared_subscription_filter() -> None:
    assert subscription_filter(MessageKind.EVENT) == "nursery/v1/+/event"
    assert (
        subscription_filter(MessageKind.EVENT, "collectors")
        == "$share/collectors/nursery/v1/+/event"
    )
    with pytest.raises(ContractError):
        subscription_filter(MessageKind.EVENT, "bad/group")


def test_decode_valid_telemetry() -> None:
    payload = decode_message(topic_for(DEVICE, MessageKind.TELEMETRY), telemetry_json())
    assert isinstance(payload, Telemetry)
    assert payload.seq == 5
    assert payload.ts == TS
    assert payload.temperature_c == 21.5


def test_unknown_fields_are_tolerated_and_newer_minor_versions_accepted() -> None:
    raw = telemetry_json(schema_version=3, co2_ppm=800, firmware_extra={"a": 1})
    payload = decode_message(topic_for(DEVICE, MessageKind.TELEMETRY), raw)
    assert payload.schema_version == 3
    assert "co2_ppm" not in payload.model_dump()


def test_timestamps_are_normalised_to_utc_and_naive_ones_rejected() -> None:
    raw = telemetry_json(ts="2026-11-23T03:10:00+01:00")
    payload = decode_message(topic_for(DEVICE, MessageKind.TELEMETRY), raw)
    assert payload.ts == TS
    assert payload.ts.tzinfo == UTC
    with pytest.raises(ContractError, match="ts"):
        decode_message(
            topic_for(DEVICE, MessageKind.TELEMETRY), telemetry_json(ts="2026-11-23T02:10:00")
        )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"{not json", "not UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (telemetry_json(device_id="nursery-other"), "does not match topic"),
        (telemetry_json(seq=-1), "seq"),
        (telemetry_json(seq="five"), "seq"),
        (telemetry_json(humidity_pct=120.0), "humidity_pct"),
        (telemetry_json(temperature_c=-300.0), "temperature_c"),
        (telemetry_json(schema_version=0), "schema_version"),
        (telemetry_json().replace(b"21.5", b"NaN"), "temperature_c"),
        (telemetry_json().replace(b"21.5", b"Infinity"), "temperature_c"),
        (b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "exceeds"),
    ],
)
def test_invalid_payloads_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        decode_message(topic_for(DEVICE, MessageKind.TELEMETRY), raw)


def test_event_requires_known_kind_and_confidence_range() -> None:
    topic = topic_for(DEVICE, MessageKind.EVENT)
    base = {"device_id": DEVICE, "seq": 9, "ts": "2026-11-23T02:10:00Z", "episode_id": 9}
    good = decode_message(
        topic, json.dumps({**base, "kind": "cry_started", "confidence": 0.9}).encode()
    )
    assert isinstance(good, Event)
    with pytest.raises(ContractError, match="kind"):
        decode_message(topic, json.dumps({**base, "kind": "party", "confidence": 0.9}).encode())
    with pytest.raises(ContractError, match="confidence"):
        decode_message(topic, json.dumps({**base, "kind": "cry_ended", "confidence": 1.5}).encode())


def test_encoding_round_trips_through_decoding() -> None:
    status = Status(
        device_id=DEVICE,
        seq=3,
        ts=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        state="online",
        firmware_version="0.1.0",
    )
    decoded = decode_message(topic_for(DEVICE, kind_of(status)), status.to_json())
    assert decoded == status
    assert decoded.ts.tzinfo == UTC
