"""Alarms on SQLite, with the semantics of postgres/alarms.py (one process: no row locks needed
beyond the write transaction; announcements go through the in-process hub after commit)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.storage import gap_plan
from cloud.storage.delivery_stats import percentile
from cloud.storage.gap_plan import covered, max_spacing, missing_ranges
from cloud.storage.records import (
    AlertDelivery,
    AlertTransition,
    DeliveryStats,
    EventRow,
    Gap,
    StatusRow,
    StoredAlert,
    TelemetryRow,
)
from cloud.storage.sqlite.alerts import alert_recipients
from cloud.storage.sqlite.database import Transaction, from_db_time, optional_time, to_db_time

ALERT_COLUMNS = (
    "id, device_id, user_id, kind, time, created_at, message, sick_detected, details,"
    " received_at, needs_ack, acknowledged_at, acknowledged_by, escalation_level"
)
ESCALATION_BATCH = 100
_VISIBLE_TO_USER = """
    ((a.user_id = :user AND a.device_id IS NULL) OR EXISTS (
        SELECT 1 FROM device_members m JOIN devices d USING (device_id)
        WHERE m.device_id = a.device_id AND m.user_id = :user
        AND a.time >= coalesce(d.history_from, '')
        AND a.created_at >= coalesce(d.history_from, '')))
"""


def stored_alert(row: sqlite3.Row, **overrides: Any) -> StoredAlert:
    values: dict[str, Any] = {
        "id": row["id"],
        "device_id": row["device_id"],
        "user_id": row["user_id"],
        "kind": row["kind"],
        "time": from_db_time(row["time"]),
        "created_at": from_db_time(row["created_at"]),
        "message": row["message"],
        "sick_detected": bool(row["sick_detected"]),
        "details": json.loads(row["details"]),
        "received_at": optional_time(row["received_at"]),
        "needs_ack": bool(row["needs_ack"]),
        "acknowledged_at": optional_time(row["acknowledged_at"]),
        "acknowledged_by": row["acknowledged_by"],
        "escalation_level": row["escalation_level"],
    }
    return StoredAlert(**{**values, **overrides})


def insert_alert(
    conn: sqlite3.Connection,
    device_id: str | None,
    user_id: int | None,
    kind: str,
    time: datetime,
    message: str,
    sick_detected: bool,
    details: dict[str, Any],
    received_at: datetime | None = None,
    escalate_after_s: float | None = None,
) -> StoredAlert:
    """Store one alert in the caller's transaction; the caller announces it after the commit."""
    now = datetime.now(UTC)
    next_escalation = (
        None if escalate_after_s is None else to_db_time(now + timedelta(seconds=escalate_after_s))
    )
    row = conn.execute(
        "INSERT INTO alerts (device_id, user_id, kind, time, created_at, message, sick_detected,"  # noqa: S608 - fixed columns
        " details, received_at, needs_ack, escalate_after_s, next_escalation_at)"
        f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {ALERT_COLUMNS}",
        (device_id, user_id, kind, to_db_time(time), to_db_time(now), message, sick_detected,
         json.dumps(details), None if received_at is None else to_db_time(received_at),
         escalate_after_s is not None, escalate_after_s, next_escalation),
    ).fetchone()  # fmt: skip
    alert = stored_alert(row)
    if alert.needs_ack:
        _transition(conn, alert.id, now, "raised", None, 0)
    return alert


def _transition(
    conn: sqlite3.Connection,
    alert_id: int,
    time: datetime,
    transition: str,
    user_id: int | None,
    level: int,
) -> None:
    conn.execute(
        "INSERT INTO alert_transitions (alert_id, time, transition, user_id, level)"
        " VALUES (?, ?, ?, ?, ?)",
        (alert_id, to_db_time(time), transition, user_id, level),
    )


def acknowledge_alert(
    conn: sqlite3.Connection, user_id: int, alert_id: int, now: datetime
) -> StoredAlert | None:
    with Transaction(conn):
        row = conn.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = :id AND {_VISIBLE_TO_USER}",  # noqa: S608
            {"id": alert_id, "user": user_id},
        ).fetchone()
        if row is None:
            return None
        conn.execute(
            "INSERT INTO alert_reads (alert_id, user_id, read_at) VALUES (?, ?, ?)"
            " ON CONFLICT (alert_id, user_id) DO NOTHING",
            (alert_id, user_id, to_db_time(now)),
        )
        if row["acknowledged_at"] is not None:
            return stored_alert(row)
        updated = conn.execute(
            "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ?,"  # noqa: S608 - fixed columns
            f" next_escalation_at = NULL WHERE id = ? RETURNING {ALERT_COLUMNS}",
            (to_db_time(now), user_id, alert_id),
        ).fetchone()
        acknowledged = stored_alert(updated, announcement="acknowledged")
        _transition(conn, alert_id, now, "acknowledged", user_id, acknowledged.escalation_level)
    return acknowledged


def escalate_due(conn: sqlite3.Connection, now: datetime) -> list[StoredAlert]:
    escalated = []
    with Transaction(conn):
        rows = conn.execute(
            f"SELECT {ALERT_COLUMNS}, escalate_after_s FROM alerts"  # noqa: S608
            " WHERE next_escalation_at <= ? AND acknowledged_at IS NULL"
            " ORDER BY next_escalation_at LIMIT ?",
            (to_db_time(now), ESCALATION_BATCH),
        ).fetchall()
        for row in rows:
            alert = stored_alert(row)
            members = [alert.user_id] if alert.user_id is not None else []
            if alert.device_id is not None:
                # Nobody for an alarm raised from before the current claim.
                members = alert_recipients(conn, alert)
            if not members:
                conn.execute(
                    "UPDATE alerts SET next_escalation_at = NULL WHERE id = ?", (alert.id,)
                )
                continue
            level = alert.escalation_level + 1
            last_level = max(1, len(members) - 1)
            escalated_to = members[min(level, len(members) - 1)]
            following = (
                to_db_time(now + timedelta(seconds=row["escalate_after_s"]))
                if level < last_level
                else None
            )
            conn.execute(
                "UPDATE alerts SET escalation_level = ?, next_escalation_at = ? WHERE id = ?",
                (level, following, alert.id),
            )
            _transition(conn, alert.id, now, "escalated", escalated_to, level)
            escalated.append(
                stored_alert(
                    row,
                    escalation_level=level,
                    announcement="escalated",
                    targets=tuple(members[: level + 1]),
                )
            )
    return escalated


def settle_offline_alarms(conn: sqlite3.Connection, device_ids: list[str]) -> None:
    """As postgres/alarms.py: back online, an offline alarm stops escalating."""
    conn.executemany(
        "UPDATE alerts SET next_escalation_at = NULL WHERE device_id = ?"
        " AND kind = 'DEVICE_OFFLINE' AND next_escalation_at IS NOT NULL",
        [(device_id,) for device_id in device_ids],
    )


def record_deliveries(conn: sqlite3.Connection, deliveries: Sequence[AlertDelivery]) -> None:
    with Transaction(conn):
        conn.executemany(
            "INSERT INTO alert_deliveries (alert_id, user_id, level, sent_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(d.alert_id, d.user_id, d.level, to_db_time(d.sent_at)) for d in deliveries],
        )


def delivery_stats(
    conn: sqlite3.Connection, user_id: int, device_id: str, since: datetime
) -> DeliveryStats | None:
    device = conn.execute(
        "SELECT d.last_seen, d.history_from FROM devices d JOIN device_members m USING (device_id)"
        " WHERE d.device_id = ? AND m.user_id = ?",
        (device_id, user_id),
    ).fetchone()
    if device is None:
        return None
    rows = conn.execute(
        "SELECT a.time, a.created_at, a.needs_ack, a.acknowledged_at,"
        " (SELECT min(sent_at) FROM alert_deliveries x WHERE x.alert_id = a.id AND x.level = 0)"
        " AS first_sent FROM alerts a WHERE a.device_id = :device AND a.created_at >= :since"
        " AND a.time >= coalesce(:period, '') AND a.created_at >= coalesce(:period, '')",
        {"device": device_id, "since": to_db_time(since), "period": device["history_from"]},
    ).fetchall()
    delays = [
        (from_db_time(r["first_sent"]) - from_db_time(r["time"])).total_seconds()
        for r in rows
        if r["first_sent"] is not None
    ]
    acks = [
        (from_db_time(r["acknowledged_at"]) - from_db_time(r["created_at"])).total_seconds()
        for r in rows
        # Only alarms are waited on; a notice someone happened to acknowledge says nothing.
        if r["acknowledged_at"] is not None and r["needs_ack"]
    ]
    return DeliveryStats(
        device_id=device_id,
        last_seen=optional_time(device["last_seen"]),
        alerts=len(rows),
        unacknowledged=sum(1 for r in rows if r["needs_ack"] and r["acknowledged_at"] is None),
        delay_p50_s=percentile(delays, 50),
        delay_p95_s=percentile(delays, 95),
        ack_p50_s=percentile(acks, 50),
        ack_p95_s=percentile(acks, 95),
    )


def alert_visible_to(conn: sqlite3.Connection, user_id: int, alert_id: int) -> bool:
    """Whether the user may see the alert's history (its transitions, its deliveries)."""
    visible = conn.execute(
        f"SELECT 1 FROM alerts a WHERE a.id = :id AND {_VISIBLE_TO_USER}",  # noqa: S608
        {"id": alert_id, "user": user_id},
    ).fetchone()
    return visible is not None


def list_transitions(
    conn: sqlite3.Connection, user_id: int, alert_id: int
) -> list[AlertTransition] | None:
    if not alert_visible_to(conn, user_id, alert_id):
        return None
    rows = conn.execute(
        "SELECT time, transition, user_id, level FROM alert_transitions WHERE alert_id = ?"
        " ORDER BY time, id",
        (alert_id,),
    ).fetchall()
    return [
        AlertTransition(from_db_time(r["time"]), r["transition"], r["user_id"], r["level"])
        for r in rows
    ]


# --- gaps --------------------------------------------------------------------------------------


def maintain_gaps(
    conn: sqlite3.Connection,
    devices: dict[str, sqlite3.Row],
    new_rows: Sequence[TelemetryRow | EventRow],
    new_readings: Sequence[TelemetryRow],
    status_changes: Sequence[StatusRow],
) -> None:
    """As postgres/alarms.py ``maintain_gaps``; runs in the caller's transaction."""
    moment = datetime.now(UTC)
    now = to_db_time(moment)
    by_device: dict[str, list[TelemetryRow | EventRow]] = {}
    for row in new_rows:
        by_device.setdefault(row.device_id, []).append(row)
    for device_id, rows in by_device.items():
        known = devices[device_id]["max_seq"]
        times = {row.seq: row.time for row in rows}
        for first, last in missing_ranges(known, times):
            start = times.get(first - 1) or _time_of_seq(conn, device_id, first - 1)
            conn.execute(
                "INSERT INTO gaps (device_id, start_time, end_time, reason, first_seq, last_seq,"
                " opened_at) VALUES (?, ?, ?, 'missing_messages', ?, ?, ?)",
                (device_id, to_db_time(start or times[last + 1]), to_db_time(times[last + 1]),
                 first, last, now),
            )  # fmt: skip
        if known is not None and any(row.seq <= known for row in rows):
            _settle_filled_seq_gaps(conn, device_id, moment)
    for status in status_changes:
        if not status.online:
            last_seen = optional_time(devices[status.device_id]["last_seen"]) or status.received_at
            conn.execute(
                "INSERT INTO gaps (device_id, start_time, reason, opened_at)"
                " VALUES (?, ?, 'offline', ?)",
                (status.device_id, to_db_time(last_seen), now),
            )
        else:
            conn.execute(
                "UPDATE gaps SET end_time = ? WHERE device_id = ? AND reason = 'offline'"
                " AND end_time IS NULL",
                (to_db_time(status.received_at), status.device_id),
            )
    touched = {row.device_id for row in new_readings} | {s.device_id for s in status_changes}
    _close_backfilled(conn, sorted(touched), devices, now)


def _time_of_seq(conn: sqlite3.Connection, device_id: str, seq: int) -> datetime | None:
    row = conn.execute(
        "SELECT time FROM readings WHERE device_id = :d AND seq = :s"
        " UNION ALL SELECT time FROM events WHERE device_id = :d AND seq = :s LIMIT 1",
        {"d": device_id, "s": seq},
    ).fetchone()
    return None if row is None else from_db_time(row["time"])


def _settle_filled_seq_gaps(conn: sqlite3.Connection, device_id: str, now: datetime) -> None:
    """Filled gaps: deleted when they were reordering, marked back-filled otherwise
    (``cloud.storage.gap_plan.REORDER_WINDOW_S``)."""
    filled = conn.execute(
        "SELECT id, opened_at FROM gaps WHERE device_id = :d"
        " AND reason = 'missing_messages' AND closed_at IS NULL"
        " AND (SELECT count(DISTINCT seq) FROM ("
        "   SELECT seq FROM readings WHERE device_id = :d"
        "     AND seq BETWEEN gaps.first_seq AND gaps.last_seq"
        "   UNION SELECT seq FROM events WHERE device_id = :d"
        "     AND seq BETWEEN gaps.first_seq AND gaps.last_seq))"
        "   = gaps.last_seq - gaps.first_seq + 1",
        {"d": device_id},
    ).fetchall()
    reorder_since = now - timedelta(seconds=gap_plan.REORDER_WINDOW_S)
    for gap in filled:
        if from_db_time(gap["opened_at"]) > reorder_since:
            conn.execute("DELETE FROM gaps WHERE id = ?", (gap["id"],))
        else:
            conn.execute("UPDATE gaps SET closed_at = ? WHERE id = ?", (to_db_time(now), gap["id"]))


def _close_backfilled(
    conn: sqlite3.Connection, device_ids: list[str], devices: dict[str, sqlite3.Row], now: str
) -> None:
    """As postgres/alarms.py: one query finds the batch's candidate gaps (almost always none)."""
    if not device_ids:
        return
    marks = ",".join("?" * len(device_ids))
    gaps = conn.execute(
        "SELECT id, device_id, start_time, end_time FROM gaps"  # noqa: S608 - placeholders only
        f" WHERE device_id IN ({marks}) AND reason = 'offline'"
        " AND end_time IS NOT NULL AND closed_at IS NULL",
        device_ids,
    ).fetchall()
    for gap in gaps:
        settings = json.loads(devices[gap["device_id"]]["device_settings"] or "{}")
        spacing = max_spacing(settings.get("telemetry_interval_s"))
        start, end = from_db_time(gap["start_time"]), from_db_time(gap["end_time"])
        times = [
            from_db_time(row["time"])
            for row in conn.execute(
                "SELECT time FROM readings WHERE device_id = ? AND time BETWEEN ? AND ?",
                (gap["device_id"], to_db_time(start - spacing), to_db_time(end + spacing)),
            )
        ]
        if covered(times, start, end, spacing):
            conn.execute("UPDATE gaps SET closed_at = ? WHERE id = ?", (now, gap["id"]))


def list_gaps(
    conn: sqlite3.Connection,
    user_id: int,
    device_id: str | None,
    start: datetime | None,
    end: datetime | None,
    include_closed: bool = False,
) -> list[Gap]:
    rows = conn.execute(
        "SELECT g.id, g.device_id, g.start_time, g.end_time, g.reason, g.first_seq, g.last_seq,"
        " g.closed_at FROM gaps g"
        " JOIN device_members m ON m.device_id = g.device_id AND m.user_id = :user"
        " JOIN devices d ON d.device_id = g.device_id"
        " WHERE (:device IS NULL OR g.device_id = :device)"
        " AND g.start_time >= coalesce(d.history_from, '')"
        " AND (:closed OR g.closed_at IS NULL)"
        " AND (:end IS NULL OR g.start_time <= :end)"
        " AND (:start IS NULL OR g.end_time IS NULL OR g.end_time >= :start)"
        " ORDER BY g.start_time DESC, g.id DESC LIMIT 1000",
        {"user": user_id, "device": device_id, "closed": include_closed,
         "start": None if start is None else to_db_time(start),
         "end": None if end is None else to_db_time(end)},
    ).fetchall()  # fmt: skip
    return [
        Gap(
            id=r["id"],
            device_id=r["device_id"],
            start=from_db_time(r["start_time"]),
            end=optional_time(r["end_time"]),
            reason=r["reason"],
            first_seq=r["first_seq"],
            last_seq=r["last_seq"],
            closed_at=optional_time(r["closed_at"]),
        )
        for r in rows
    ]
