"""The outbox: ordered, crash-safe, bounded without ever dropping an event."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.publish.outbox import Outbox
from models.contract import Event, MessageKind, Telemetry, decode_message, topic_for

DEVICE = "nursery-test"
TS = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def telemetry(seq: int) -> Telemetry:
    return Telemetry(device_id=DEVICE, seq=seq, ts=TS, temperature_c=20.0 + seq / 100)


def cry(seq: int) -> Event:
    return Event(device_id=DEVICE, seq=seq, ts=TS, kind="cry_started", episode_id=seq,
                 confidence=0.97)  # fmt: skip


def test_messages_get_consecutive_seqs_and_come_back_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    stored = [outbox.append(telemetry) for _ in range(5)]
    assert [payload.seq for payload in stored] == [0, 1, 2, 3, 4]
    pending = outbox.pending(after_seq=-1, limit=10)
    assert [message.seq for message in pending] == [0, 1, 2, 3, 4]
    first = decode_message(topic_for(DEVICE, MessageKind.TELEMETRY), pending[0].payload)
    assert first == stored[0]
    assert [message.seq for message in outbox.pending(after_seq=2, limit=1)] == [3]


def test_acknowledged_messages_leave_and_the_depth_follows(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    for _ in range(3):
        outbox.append(telemetry)
    outbox.acknowledge(1)
    outbox.acknowledge(1)  # a duplicate PUBACK changes nothing
    assert outbox.depth == 2
    assert [message.seq for message in outbox.pending(-1, 10)] == [0, 2]


def test_messages_and_sequence_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    for _ in range(3):
        outbox.append(telemetry)
    outbox.acknowledge(0)
    outbox.close()
    reopened = Outbox(path)
    assert reopened.depth == 2
    assert reopened.last_assigned_seq() == 2
    assert reopened.append(telemetry).seq == 3


def _append_then_die(path: Path, count: int) -> None:
    outbox = Outbox(path)
    for _ in range(count):
        outbox.append(telemetry)
    os._exit(0)  # no close(), no atexit: as abrupt as a kill


def test_a_process_that_dies_without_closing_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    child = multiprocessing.get_context("spawn").Process(target=_append_then_die, args=(path, 7))
    child.start()
    child.join(30)
    outbox = Outbox(path)
    assert [message.seq for message in outbox.pending(-1, 100)] == list(range(7))
    assert outbox.append(telemetry).seq == 7


def test_a_full_outbox_drops_the_oldest_telemetry_never_events(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=4)
    outbox.append(cry)  # seq 0
    for _ in range(3):
        outbox.append(telemetry)  # seq 1..3: now full
    outbox.append(telemetry)  # seq 4 pushes out seq 1
    outbox.append(cry)  # seq 5 pushes out seq 2
    assert [message.seq for message in outbox.pending(-1, 10)] == [0, 3, 4, 5]
    assert outbox.dropped_telemetry() == 2
    assert outbox.depth == 4


def test_events_are_kept_beyond_the_bound_when_nothing_else_can_go(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=2)
    for _ in range(4):
        outbox.append(cry)
    pending = outbox.pending(-1, 10)
    assert [message.kind for message in pending] == [MessageKind.EVENT] * 4
    assert outbox.dropped_telemetry() == 0


def test_a_payload_with_the_wrong_seq_is_refused_and_nothing_is_consumed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    with pytest.raises(ValueError, match="expected 0"):
        outbox.append(lambda seq: telemetry(seq + 1))
    assert outbox.depth == 0
    assert outbox.append(telemetry).seq == 0
