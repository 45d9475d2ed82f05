"""Alerts as each user sees them on SQLite, with the semantics of postgres/alerts.py."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from cloud.storage.claim_plan import in_claim_period
from cloud.storage.records import AlertQuery, AlertView, DeviceAudience, StoredAlert
from cloud.storage.sharing_plan import MEMBER_ORDER
from cloud.storage.sqlite.database import from_db_time, optional_time, to_db_time

_VISIBLE = """
SELECT a.id, a.device_id, a.user_id, a.kind, a.time, a.created_at, a.message, a.sick_detected,
       a.details, a.received_at, a.needs_ack, a.acknowledged_at, a.acknowledged_by,
       a.escalation_level
FROM device_members m
JOIN devices d ON d.device_id = m.device_id
JOIN alerts a ON a.device_id = m.device_id
WHERE m.user_id = :user_id AND a.time >= coalesce(d.history_from, '')
  AND a.created_at >= coalesce(d.history_from, '')
UNION ALL
SELECT a.id, a.device_id, a.user_id, a.kind, a.time, a.created_at, a.message, a.sick_detected,
       a.details, a.received_at, a.needs_ack, a.acknowledged_at, a.acknowledged_by,
       a.escalation_level
FROM alerts a
WHERE a.user_id = :user_id AND a.device_id IS NULL
"""

_LIST_SQL = f"""
SELECT v.*, r.alert_id IS NOT NULL AS read
FROM ({_VISIBLE}) v
LEFT JOIN alert_reads r ON r.alert_id = v.id AND r.user_id = :user_id
WHERE (:device_id IS NULL OR v.device_id = :device_id)
  AND (:kind IS NULL OR v.kind = :kind)
  AND (NOT :unread_only OR r.alert_id IS NULL)
  AND (:start IS NULL OR v.time >= :start)
  AND (:end IS NULL OR v.time <= :end)
ORDER BY v.time DESC, v.id DESC
LIMIT :limit OFFSET :offset
"""  # noqa: S608 - fixed fragments

_UNREAD_SQL = f"""
SELECT count(*) AS unread FROM ({_VISIBLE}) v
WHERE NOT EXISTS (SELECT 1 FROM alert_reads r WHERE r.alert_id = v.id AND r.user_id = :user_id)
"""  # noqa: S608 - fixed fragments

# ``WHERE`` is required before ON CONFLICT in an INSERT ... SELECT (SQLite's parser).
_MARK_SQL = f"""
INSERT INTO alert_reads (alert_id, user_id, read_at)
SELECT v.id, :user_id, :now FROM ({_VISIBLE}) v
WHERE :ids IS NULL OR v.id IN (SELECT value FROM json_each(:ids))
ON CONFLICT (alert_id, user_id) DO NOTHING
"""  # noqa: S608 - fixed fragments


def _optional(value: datetime | None) -> str | None:
    return None if value is None else to_db_time(value)


def _view(row: sqlite3.Row) -> AlertView:
    return AlertView(
        id=row["id"],
        device_id=row["device_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        time=from_db_time(row["time"]),
        created_at=from_db_time(row["created_at"]),
        message=row["message"],
        sick_detected=bool(row["sick_detected"]),
        details=json.loads(row["details"]),
        read=bool(row["read"]),
        received_at=_time_or_none(row["received_at"]),
        needs_ack=bool(row["needs_ack"]),
        acknowledged_at=_time_or_none(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        escalation_level=row["escalation_level"],
    )


def _time_or_none(value: str | None) -> datetime | None:
    return None if value is None else from_db_time(value)


def list_user_alerts(conn: sqlite3.Connection, user_id: int, query: AlertQuery) -> list[AlertView]:
    rows = conn.execute(_LIST_SQL, {
        "user_id": user_id, "device_id": query.device_id, "kind": query.kind,
        "unread_only": query.unread_only, "start": _optional(query.start),
        "end": _optional(query.end), "limit": query.limit, "offset": query.offset,
    })  # fmt: skip
    return [_view(row) for row in rows]


def count_unread_alerts(conn: sqlite3.Connection, user_id: int) -> int:
    return int(conn.execute(_UNREAD_SQL, {"user_id": user_id}).fetchone()["unread"])


def mark_alerts_read(
    conn: sqlite3.Connection, user_id: int, alert_ids: list[int] | None, now: datetime
) -> int:
    # One statement: atomic without an explicit transaction (autocommit mode).
    cursor = conn.execute(_MARK_SQL, {
        "user_id": user_id, "now": to_db_time(now),
        "ids": None if alert_ids is None else json.dumps(alert_ids),
    })  # fmt: skip
    return cursor.rowcount


def alert_recipients(conn: sqlite3.Connection, alert: StoredAlert) -> list[int]:
    if alert.user_id is not None:
        return [alert.user_id]
    if alert.device_id is None:
        return []
    device = conn.execute(
        "SELECT history_from FROM devices WHERE device_id = ?", (alert.device_id,)
    ).fetchone()
    # Raised from what the device recorded before the current claim: nobody's to be told.
    period_start = None if device is None else optional_time(device["history_from"])
    if device is None or not in_claim_period(period_start, alert.time, alert.created_at):
        return []
    return device_member_ids(conn, alert.device_id)


def device_audience(conn: sqlite3.Connection, device_id: str) -> DeviceAudience:
    device = conn.execute(
        "SELECT history_from FROM devices WHERE device_id = ?", (device_id,)
    ).fetchone()
    period_start = None if device is None else optional_time(device["history_from"])
    return DeviceAudience(device_member_ids(conn, device_id), period_start)


def device_member_ids(conn: sqlite3.Connection, device_id: str) -> list[int]:
    """Who may see the device: its owner first, then its caregivers."""
    rows = conn.execute(
        f"SELECT m.user_id FROM device_members m WHERE m.device_id = ? ORDER BY {MEMBER_ORDER}",  # noqa: S608
        (device_id,),
    )
    return [row["user_id"] for row in rows]
