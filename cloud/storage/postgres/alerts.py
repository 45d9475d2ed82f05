"""Alerts as each user sees them on PostgreSQL: their member devices' and their uploads', with
their own read marks; and who is told about a new alert.

A user's alerts are a UNION ALL of two index-backed scans (device_members_user then
alerts_device_time; alerts_user_time), as the health history is (postgres/health.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from cloud.storage.claim_plan import in_claim_period
from cloud.storage.records import AlertQuery, AlertView, DeviceAudience, StoredAlert
from cloud.storage.sharing_plan import MEMBER_ORDER

_VISIBLE = """
SELECT a.id, a.device_id, a.user_id, a.kind, a.time, a.created_at, a.message, a.sick_detected,
       a.details, a.received_at, a.needs_ack, a.acknowledged_at, a.acknowledged_by,
       a.escalation_level
FROM device_members m
JOIN devices d ON d.device_id = m.device_id
JOIN alerts a ON a.device_id = m.device_id
WHERE m.user_id = %(user_id)s AND a.time >= coalesce(d.history_from, '-infinity')
  AND a.created_at >= coalesce(d.history_from, '-infinity')
UNION ALL
SELECT a.id, a.device_id, a.user_id, a.kind, a.time, a.created_at, a.message, a.sick_detected,
       a.details, a.received_at, a.needs_ack, a.acknowledged_at, a.acknowledged_by,
       a.escalation_level
FROM alerts a
WHERE a.user_id = %(user_id)s AND a.device_id IS NULL
"""

_LIST_SQL = f"""
SELECT v.*, r.alert_id IS NOT NULL AS read
FROM ({_VISIBLE}) v
LEFT JOIN alert_reads r ON r.alert_id = v.id AND r.user_id = %(user_id)s
WHERE (%(device_id)s::text IS NULL OR v.device_id = %(device_id)s)
  AND (%(kind)s::text IS NULL OR v.kind = %(kind)s)
  AND (NOT %(unread_only)s OR r.alert_id IS NULL)
  AND (%(start)s::timestamptz IS NULL OR v.time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR v.time <= %(end)s)
ORDER BY v.time DESC, v.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""  # noqa: S608 - fixed fragments

_UNREAD_SQL = f"""
SELECT count(*) AS unread FROM ({_VISIBLE}) v
WHERE NOT EXISTS (
    SELECT 1 FROM alert_reads r WHERE r.alert_id = v.id AND r.user_id = %(user_id)s
)
"""  # noqa: S608 - fixed fragments

_MARK_SQL = f"""
INSERT INTO alert_reads (alert_id, user_id, read_at)
SELECT v.id, %(user_id)s, %(now)s FROM ({_VISIBLE}) v
WHERE %(ids)s::bigint[] IS NULL OR v.id = ANY(%(ids)s::bigint[])
ON CONFLICT (alert_id, user_id) DO NOTHING
"""  # noqa: S608 - fixed fragments


async def list_user_alerts(
    conn: AsyncConnection[Any], user_id: int, query: AlertQuery
) -> list[AlertView]:
    cursor = await conn.execute(_LIST_SQL, {
        "user_id": user_id, "device_id": query.device_id, "kind": query.kind,
        "unread_only": query.unread_only, "start": query.start, "end": query.end,
        "limit": query.limit, "offset": query.offset,
    })  # fmt: skip
    return [AlertView(**row) for row in await cursor.fetchall()]


async def count_unread_alerts(conn: AsyncConnection[Any], user_id: int) -> int:
    cursor = await conn.execute(_UNREAD_SQL, {"user_id": user_id})
    row = await cursor.fetchone()
    assert row is not None
    return int(row["unread"])


async def mark_alerts_read(
    conn: AsyncConnection[Any], user_id: int, alert_ids: list[int] | None, now: datetime
) -> int:
    cursor = await conn.execute(_MARK_SQL, {"user_id": user_id, "now": now, "ids": alert_ids})
    return cursor.rowcount


async def alert_recipients(conn: AsyncConnection[Any], alert: StoredAlert) -> list[int]:
    if alert.user_id is not None:
        return [alert.user_id]
    if alert.device_id is None:
        return []
    cursor = await conn.execute(
        "SELECT history_from FROM devices WHERE device_id = %s", (alert.device_id,)
    )
    device = await cursor.fetchone()
    # Raised from what the device recorded before the current claim: nobody's to be told.
    if device is None or not in_claim_period(device["history_from"], alert.time, alert.created_at):
        return []
    return await device_member_ids(conn, alert.device_id)


async def device_audience(conn: AsyncConnection[Any], device_id: str) -> DeviceAudience:
    cursor = await conn.execute(
        "SELECT history_from FROM devices WHERE device_id = %s", (device_id,)
    )
    device = await cursor.fetchone()
    return DeviceAudience(
        await device_member_ids(conn, device_id), None if device is None else device["history_from"]
    )


async def device_member_ids(conn: AsyncConnection[Any], device_id: str) -> list[int]:
    """Who may see the device: its owner first, then its caregivers."""
    cursor = await conn.execute(
        f"SELECT m.user_id FROM device_members m WHERE m.device_id = %s ORDER BY {MEMBER_ORDER}",  # noqa: S608
        (device_id,),
    )
    return [row["user_id"] for row in await cursor.fetchall()]
