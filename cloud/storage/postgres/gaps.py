"""Keeping a batch's gaps on PostgreSQL: missing sequence numbers opened and closed, offline
spells ended and closed once readings cover them (decisions in ``cloud.storage.gap_plan``).

Set-based: the statements of a batch do not grow with its devices. With several collectors in
one shared-subscription group the broker deals each device's messages out round-robin, so
every batch skips numbers (held by the other collectors) and fills earlier holes; one round
trip per range and per device made that the cost that halved two collectors' throughput in
the ingest benchmark (docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from cloud.storage import gap_plan
from cloud.storage.gap_plan import covered, max_spacing, missing_ranges
from cloud.storage.records import EventRow, StatusRow, TelemetryRow

_TIMES_OF_SEQS = """
SELECT k.device_id, k.seq, coalesce(
    (SELECT time FROM readings r WHERE r.device_id = k.device_id AND r.seq = k.seq LIMIT 1),
    (SELECT time FROM events e WHERE e.device_id = k.device_id AND e.seq = k.seq LIMIT 1)
) AS time
FROM unnest(%(ids)s::text[], %(seqs)s::bigint[]) AS k(device_id, seq)
"""

# Filled gaps: deleted when they were reordering (filled within the reorder window of being
# opened), marked back-filled otherwise (``cloud.storage.gap_plan.REORDER_WINDOW_S``).
_SETTLE_FILLED_SEQ_GAPS = """
WITH filled AS (
    SELECT g.id, g.opened_at > now() - make_interval(secs => %(window)s) AS reordered
    FROM gaps g WHERE g.device_id = ANY(%(ids)s)
      AND g.reason = 'missing_messages' AND g.closed_at IS NULL
      AND (SELECT count(DISTINCT seq) FROM (
             SELECT seq FROM readings WHERE device_id = g.device_id
               AND seq BETWEEN g.first_seq AND g.last_seq
             UNION SELECT seq FROM events WHERE device_id = g.device_id
               AND seq BETWEEN g.first_seq AND g.last_seq) s) = g.last_seq - g.first_seq + 1
), dropped AS (
    DELETE FROM gaps WHERE id IN (SELECT id FROM filled WHERE reordered)
)
UPDATE gaps SET closed_at = now() WHERE id IN (SELECT id FROM filled WHERE NOT reordered)
"""

_OPEN_SEQ_GAP = (
    "INSERT INTO gaps (device_id, start_time, end_time, reason, first_seq, last_seq)"
    " VALUES (%s, %s, %s, 'missing_messages', %s, %s)"
)


async def maintain_gaps(
    conn: AsyncConnection[Any],
    devices: dict[str, dict[str, Any]],
    new_rows: Sequence[TelemetryRow | EventRow],
    new_readings: Sequence[TelemetryRow],
    status_changes: Sequence[StatusRow],
) -> None:
    """Open, end and close the batch's devices' gaps (see ``cloud.storage.gap_plan``).
    ``devices`` holds each device's row as locked before the batch (max_seq, last_seen)."""
    by_device: dict[str, list[TelemetryRow | EventRow]] = {}
    for row in new_rows:
        by_device.setdefault(row.device_id, []).append(row)
    holes: list[tuple[str, int, int, dict[int, datetime]]] = []
    filling: list[str] = []
    for device_id, rows in by_device.items():
        known = devices[device_id]["max_seq"]
        times = {row.seq: row.time for row in rows}
        holes += [(device_id, first, last, times) for first, last in missing_ranges(known, times)]
        if known is not None and any(row.seq <= known for row in rows):
            filling.append(device_id)
    await _open_seq_gaps(conn, holes)
    if filling:
        await conn.execute(
            _SETTLE_FILLED_SEQ_GAPS, {"ids": filling, "window": gap_plan.REORDER_WINDOW_S}
        )
    for status in status_changes:
        if not status.online:
            last_seen = devices[status.device_id]["last_seen"] or status.received_at
            await conn.execute(
                "INSERT INTO gaps (device_id, start_time, reason) VALUES (%s, %s, 'offline')",
                (status.device_id, last_seen),
            )
        else:
            await conn.execute(
                "UPDATE gaps SET end_time = %s WHERE device_id = %s AND reason = 'offline'"
                " AND end_time IS NULL",
                (status.received_at, status.device_id),
            )
    touched = {row.device_id for row in new_readings} | {s.device_id for s in status_changes}
    await _close_backfilled(conn, sorted(touched), devices)


async def _open_seq_gaps(
    conn: AsyncConnection[Any], holes: list[tuple[str, int, int, dict[int, datetime]]]
) -> None:
    """A hole starts at the time of the message before it: in the batch, or else stored."""
    if not holes:
        return
    lookups = sorted({(d, first - 1) for d, first, _last, times in holes if first - 1 not in times})
    stored: dict[tuple[str, int], datetime | None] = {}
    if lookups:
        cursor = await conn.execute(
            _TIMES_OF_SEQS, {"ids": [d for d, _ in lookups], "seqs": [s for _, s in lookups]}
        )
        stored = {(row["device_id"], row["seq"]): row["time"] for row in await cursor.fetchall()}
    gaps = []
    for device_id, first, last, times in holes:
        start = times.get(first - 1) or stored.get((device_id, first - 1))
        gaps.append((device_id, start or times[last + 1], times[last + 1], first, last))
    async with conn.cursor() as cursor:
        await cursor.executemany(_OPEN_SEQ_GAP, gaps)  # pipelined: one round trip


async def _close_backfilled(
    conn: AsyncConnection[Any], device_ids: list[str], devices: dict[str, dict[str, Any]]
) -> None:
    """Close the ended offline gaps that stored readings now cover. One query finds the
    candidates of the whole batch (this runs for every batch, almost always finding none)."""
    if not device_ids:
        return
    cursor = await conn.execute(
        "SELECT id, device_id, start_time, end_time FROM gaps WHERE device_id = ANY(%s)"
        " AND reason = 'offline' AND end_time IS NOT NULL AND closed_at IS NULL",
        (device_ids,),
    )
    for gap in await cursor.fetchall():
        settings = json.loads(devices[gap["device_id"]]["device_settings_json"] or "{}")
        spacing = max_spacing(settings.get("telemetry_interval_s"))
        readings = await conn.execute(
            "SELECT time FROM readings WHERE device_id = %s AND time BETWEEN %s AND %s",
            (gap["device_id"], gap["start_time"] - spacing, gap["end_time"] + spacing),
        )
        times = [row["time"] for row in await readings.fetchall()]
        if covered(times, gap["start_time"], gap["end_time"], spacing):
            await conn.execute("UPDATE gaps SET closed_at = now() WHERE id = %s", (gap["id"],))
