"""The backend-independent part of storing a batch: who is known, what is newest, what is late.

Pure functions over records; postgres/ingest.py and sqlite/ingest.py both use them, so the two
backends cannot drift apart in what they decide, only in how they write it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from cloud.storage.records import (
    DeadLetter,
    EventRow,
    IngestBatch,
    ReportedConfigRow,
    StatusRow,
    TelemetryRow,
)
from models.contract import MessageKind, topic_for

UNKNOWN_DEVICE = "unknown device"
# |receive time - device time| of a device's newest message beyond which its clock is wrong.
CLOCK_DRIFT_THRESHOLD_S = 120.0


def split_known(batch: IngestBatch, known: Collection[str]) -> tuple[IngestBatch, list[DeadLetter]]:
    """The rows of registered devices, and dead letters for the batch's garbage plus every row
    of a device the cloud does not know (kept verbatim with its topic)."""
    dead = list(batch.dead_letters)
    for rows, kind in (
        (batch.readings, MessageKind.TELEMETRY),
        (batch.events, MessageKind.EVENT),
        (batch.statuses, MessageKind.STATUS),
        (batch.reported, MessageKind.REPORTED_CONFIG),
    ):
        dead += [
            DeadLetter(topic_for(r.device_id, kind), r.raw, UNKNOWN_DEVICE, r.received_at)
            for r in rows
            if r.device_id not in known
        ]
    kept = IngestBatch(
        readings=[r for r in batch.readings if r.device_id in known],
        events=[r for r in batch.events if r.device_id in known],
        statuses=[r for r in batch.statuses if r.device_id in known],
        reported=[r for r in batch.reported if r.device_id in known],
    )
    return kept, dead


def newest_statuses(statuses: Sequence[StatusRow]) -> dict[str, StatusRow]:
    """The latest status per device by the time it reached the server, not the device's own
    ``ts``: the broker publishes a last will with the ``ts`` of the connection it was set on,
    which is older than every heartbeat since - by device time a crash would never count."""
    newest: dict[str, StatusRow] = {}
    for status in statuses:
        current = newest.get(status.device_id)
        if current is None or status.received_at >= current.received_at:
            newest[status.device_id] = status
    return newest


def newest_reported(reported: Sequence[ReportedConfigRow]) -> dict[str, ReportedConfigRow]:
    """Each device's latest report in the batch: highest revision, then newest time."""
    newest: dict[str, ReportedConfigRow] = {}
    for row in reported:
        current = newest.get(row.device_id)
        if current is None or reported_is_newer(row, current.revision, current.time):
            newest[row.device_id] = row
    return newest


def reported_is_newer(
    row: ReportedConfigRow, stored_revision: int | None, stored_at: datetime | None
) -> bool:
    """Whether ``row`` replaces the stored report: a higher revision always does (even with an
    older device time: revisions are the cloud's, clocks are the device's); the same revision
    only when sent later (the device re-sent it); an older revision never does, so a stale or
    retained copy redelivered later cannot undo a newer answer."""
    if stored_revision is None or stored_at is None:
        return True
    return (row.revision, row.time) > (stored_revision, stored_at)


@dataclass(frozen=True, slots=True)
class Liveness:
    """Per device: when it was last heard, and (if the batch stored a new message) the newest
    message's seq and clock offset."""

    device_id: str
    last_seen: datetime
    newest_seq: int | None
    clock_offset_s: float | None


def liveness(batch: IngestBatch, new_rows: Sequence[TelemetryRow | EventRow]) -> list[Liveness]:
    """last_seen from every message; the clock offset from each device's newest new message
    only, since replayed old messages legitimately arrive late."""
    last_seen: dict[str, datetime] = {}
    for row in batch.device_rows():
        last_seen[row.device_id] = max(
            row.received_at, last_seen.get(row.device_id, row.received_at)
        )
    newest: dict[str, TelemetryRow | EventRow] = {}
    for row in new_rows:
        if row.device_id not in newest or row.seq > newest[row.device_id].seq:
            newest[row.device_id] = row
    result = []
    for device_id, seen in last_seen.items():
        newest_row = newest.get(device_id)
        if newest_row is None:
            result.append(Liveness(device_id, seen, None, None))
            continue
        offset = (newest_row.received_at - newest_row.time).total_seconds()
        result.append(Liveness(device_id, seen, newest_row.seq, offset))
    return result
