"""Decoding a received message is total: any bytes on any device topic end as a row inside the
time window or as a bounded dead letter with a reason, never as an exception (issue 27,
findings 3, 4 and 11)."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloud.collector.decode import UNEXPECTED, to_ingest_item
from cloud.storage.dead_letter_plan import (
    MAX_ERROR_CHARS,
    MAX_STORED_PAYLOAD_BYTES,
    MAX_TOPIC_CHARS,
    DeadLetterRetention,
    capped,
)
from cloud.storage.records import (
    DeadLetter,
    EventRow,
    ReportedConfigRow,
    StatusRow,
    TelemetryRow,
)
from models.contract import MessageKind, TimeWindow, topic_for

DEVICE = "nursery-4f2a9c"
NOW = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
WINDOW = TimeWindow()
DEVICE_TOPICS = [topic_for(DEVICE, kind) for kind in MessageKind]
# The payloads of the findings: a time that overflows when converted to UTC (at both ends of
# the calendar) and one far in the future.
OVERFLOWING_TS = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
FUTURE_TS = "9999-12-31T00:00:00Z"


def envelope(kind: MessageKind, /, **fields: Any) -> dict[str, Any]:
    """A valid document of ``kind`` at NOW, with ``fields`` replaced."""
    base: dict[str, Any] = {
        "schema_version": 1, "device_id": DEVICE, "seq": 7, "ts": NOW.isoformat(),
    }  # fmt: skip
    extra: dict[MessageKind, dict[str, Any]] = {
        MessageKind.TELEMETRY: {"temperature_c": 21.0, "humidity_pct": 45.0},
        MessageKind.EVENT: {"kind": "cry_started", "episode_id": 7, "confidence": 0.9},
        MessageKind.STATUS: {"state": "online", "firmware_version": "0.1.0"},
        MessageKind.DESIRED_CONFIG: {"settings": {"cry_sensitivity": 0.5}},
        MessageKind.REPORTED_CONFIG: {"revision": 1, "accepted": True, "settings": {}},
        MessageKind.IGNORE_LIST: {"marks": [{"episode_id": 3, "marked_at": NOW.isoformat()}]},
    }
    return {**base, **extra[kind], **fields}


def assert_total(topic: str, raw: bytes) -> None:
    """What every input must give: a row in the window, or a bounded dead letter."""
    item = to_ingest_item(topic, raw, NOW, WINDOW)
    if isinstance(item, DeadLetter):
        assert item.error
        assert not item.error.startswith(UNEXPECTED), item.error
        assert item.size == len(raw)
        assert item.sha256 == hashlib.sha256(raw).hexdigest()
        assert item.payload == raw[:MAX_STORED_PAYLOAD_BYTES]
        assert len(item.error) <= MAX_ERROR_CHARS
        assert len(item.topic) <= MAX_TOPIC_CHARS
        assert "\x00" not in item.error  # storable text (encoding it raises if not)
        item.error.encode("utf-8")
        return
    assert isinstance(item, TelemetryRow | EventRow | StatusRow | ReportedConfigRow)
    assert WINDOW.problem(item.time, NOW) is None


# JSON values as a device - or an attacker - could send them: deep nesting, integers far
# beyond 64 bits, NaN and infinities (Python's json writes them), any unicode.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**300])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
odd_timestamps = (
    st.sampled_from([*OVERFLOWING_TS, FUTURE_TS, "1970-01-01T00:00:00Z", "2026-12-06T21:00:00",
                     "2026-02-30T00:00:00Z", "", "now", "+275760-09-13T00:00:00Z"])
    | st.builds(
        lambda moment, tz: moment.replace(tzinfo=tz).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), offsets,
    )
    | st.integers() | st.floats() | st.text()
)  # fmt: skip
field_values = odd_timestamps | json_values


@pytest.mark.parametrize("topic", [*DEVICE_TOPICS, "nursery/v1/x/telemetry", "elsewhere/x"])
@given(raw=st.binary(max_size=2048))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_on_any_topic_decode_or_dead_letter(topic: str, raw: bytes) -> None:
    assert_total(topic, raw)


@pytest.mark.parametrize("kind", list(MessageKind))
@given(document=json_values)
@settings(max_examples=150, deadline=None)
def test_any_json_document_decodes_or_dead_letters(kind: MessageKind, document: Any) -> None:
    assert_total(topic_for(DEVICE, kind), json.dumps(document).encode())


@given(depth=st.integers(min_value=1, max_value=100_000))
@settings(max_examples=30, deadline=None)
def test_deeply_nested_json_decodes_or_dead_letters(depth: int) -> None:
    document = json.dumps(envelope(MessageKind.STATUS, faults="NEST"))
    nested = "[" * depth + "]" * depth
    raw = document.replace('"NEST"', nested).encode()
    assert_total(topic_for(DEVICE, MessageKind.STATUS), raw)


@pytest.mark.parametrize("kind", list(MessageKind))
@given(
    changes=st.dictionaries(
        st.sampled_from(["ts", "seq", "device_id", "temperature_c", "humidity_pct", "kind",
                         "confidence", "state", "firmware_version", "faults", "fault_details",
                         "settings", "revision", "error", "episode_id", "uptime_s"]),
        field_values, max_size=4,
    )
)  # fmt: skip
@example(changes={"ts": OVERFLOWING_TS[0]})
@example(changes={"ts": OVERFLOWING_TS[1]})
@example(changes={"ts": FUTURE_TS})
@example(changes={"firmware_version": "0.1\x00", "error": "\x00", "settings": {"\x00": "\x00"}})
@settings(max_examples=300, deadline=None)
def test_valid_documents_with_odd_fields_decode_or_dead_letter(
    kind: MessageKind, changes: dict[str, Any]
) -> None:
    """Mostly valid envelopes, so that the odd values reach the field validators."""
    assert_total(topic_for(DEVICE, kind), json.dumps(envelope(kind, **changes)).encode())


@pytest.mark.parametrize("kind", list(MessageKind))
@pytest.mark.parametrize(
    "field", ["ts", "seq", "temperature_c", "revision", "uptime_s", "settings"]
)
def test_numbers_of_thousands_of_digits_decode_or_dead_letter(
    kind: MessageKind, field: str
) -> None:
    """Beyond Python's 4300-digit limit for int/str conversion (written as text: the json
    module itself refuses to write them)."""
    document = json.dumps(envelope(kind, **{field: "HUGE"}))
    for number in ("9" * 5000, "-" + "9" * 5000, "1e" + "9" * 5000, "0." + "1" * 5000):
        assert_total(topic_for(DEVICE, kind), document.replace('"HUGE"', number).encode())


@pytest.mark.parametrize("ts", OVERFLOWING_TS)
@pytest.mark.parametrize("kind", [k for k in MessageKind if k != MessageKind.DESIRED_CONFIG])
def test_a_timestamp_overflowing_utc_is_a_dead_letter_naming_ts(kind: MessageKind, ts: str) -> None:
    raw = json.dumps(envelope(kind, ts=ts)).encode()
    item = to_ingest_item(topic_for(DEVICE, kind), raw, NOW, WINDOW)
    assert isinstance(item, DeadLetter)
    assert item.error.startswith("ts:"), item.error
    assert item.payload == raw


@pytest.mark.parametrize("kind", [MessageKind.TELEMETRY, MessageKind.EVENT])
@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        (FUTURE_TS, "ahead of the server clock"),
        ((NOW + timedelta(minutes=5, seconds=1)).isoformat(), "301 s ahead"),
        ("2024-12-31T23:59:59Z", "is before 2025-01-01"),
        ("1970-01-01T00:00:00Z", "is before 2025-01-01"),
    ],
)
def test_readings_and_events_outside_the_window_are_dead_letters(
    kind: MessageKind, ts: str, reason: str
) -> None:
    item = to_ingest_item(topic_for(DEVICE, kind), json.dumps(envelope(kind, ts=ts)).encode(), NOW)
    assert isinstance(item, DeadLetter)
    assert reason in item.error


@pytest.mark.parametrize("kind", [MessageKind.TELEMETRY, MessageKind.EVENT])
def test_a_clock_a_little_fast_or_a_replay_from_last_year_is_accepted(kind: MessageKind) -> None:
    for ts in (NOW + timedelta(minutes=5), NOW - timedelta(days=365)):
        raw = json.dumps(envelope(kind, ts=ts.isoformat())).encode()
        item = to_ingest_item(topic_for(DEVICE, kind), raw, NOW)
        assert isinstance(item, TelemetryRow | EventRow)
        assert item.time == ts


def test_the_window_is_a_setting() -> None:
    raw = json.dumps(envelope(MessageKind.TELEMETRY, ts=(NOW + timedelta(hours=1)).isoformat()))
    topic = topic_for(DEVICE, MessageKind.TELEMETRY)
    assert isinstance(to_ingest_item(topic, raw.encode(), NOW), DeadLetter)
    wide = TimeWindow(max_ahead=timedelta(hours=2))
    assert isinstance(to_ingest_item(topic, raw.encode(), NOW, wide), TelemetryRow)


@pytest.mark.parametrize("kind", [MessageKind.STATUS, MessageKind.REPORTED_CONFIG])
@pytest.mark.parametrize("ts", [FUTURE_TS, "1970-01-01T00:00:00Z"])
def test_states_outside_the_window_are_kept_at_their_receive_time(
    kind: MessageKind, ts: str
) -> None:
    """A status of a device with a wrong clock must still arrive: it may report that very
    fault. Its time only dates it, so the receive time stands in."""
    faults = {"faults": ["clock"]} if kind == MessageKind.STATUS else {}
    raw = json.dumps(envelope(kind, ts=ts, **faults)).encode()
    item = to_ingest_item(topic_for(DEVICE, kind), raw, NOW)
    assert isinstance(item, StatusRow | ReportedConfigRow)
    assert item.time == NOW


def test_an_unforeseen_error_becomes_a_dead_letter_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(topic: str, raw: bytes) -> None:
        raise RecursionError("deep")

    monkeypatch.setattr("cloud.collector.decode.decode_message", broken)
    item = to_ingest_item(topic_for(DEVICE, MessageKind.TELEMETRY), b"{}", NOW)
    assert isinstance(item, DeadLetter)
    assert item.error == f"{UNEXPECTED}: RecursionError: deep"


def test_a_huge_payload_is_kept_as_a_prefix_with_its_size_and_digest() -> None:
    raw = b'{"device_id": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    item = to_ingest_item(topic_for(DEVICE, MessageKind.TELEMETRY), raw, NOW)
    assert isinstance(item, DeadLetter)
    assert "exceeds" in item.error
    assert item.payload == raw[:MAX_STORED_PAYLOAD_BYTES]
    assert (item.size, item.sha256) == (len(raw), hashlib.sha256(raw).hexdigest())


def test_capping_is_idempotent_and_keeps_small_payloads_whole() -> None:
    letter = capped(DeadLetter("nursery/v1/a/telemetry", b"{garbage", "not JSON", NOW))
    assert letter.payload == b"{garbage"
    assert capped(letter) is letter
    long = capped(DeadLetter("t" * 10_000, b"", "e\x00\ud800" * 1000, NOW))
    assert len(long.topic) == MAX_TOPIC_CHARS
    assert len(long.error) <= MAX_ERROR_CHARS
    assert "\x00" not in long.error
    long.error.encode("utf-8")


def test_retention_cutoff() -> None:
    retention = DeadLetterRetention(timedelta(days=30), 10)
    assert retention.cutoff(NOW) == NOW - timedelta(days=30)
    assert math.isclose(DeadLetterRetention().max_age.total_seconds(), 30 * 86_400)
