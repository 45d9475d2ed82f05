"""Alarms on PostgreSQL: acknowledgements, escalation, delivery records and gaps.

Escalation runs in every collector; ``FOR UPDATE SKIP LOCKED`` hands each due alarm to one of
them, and the escalated announcement goes out with ``pg_notify`` on commit like a new alert.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from cloud.storage.claim_plan import in_claim_period
from cloud.storage.delivery_stats import percentile
from cloud.storage.records import (
    AlertDelivery,
    AlertTransition,
    DeliveryStats,
    Gap,
    StoredAlert,
)
from cloud.storage.sharing_plan import MEMBER_ORDER

ALERT_CHANNEL = "nursery_alerts"
ESCALATION_BATCH = 100
# An alert the caller may see: their own upload's, or a member device's raised in its current
# claim period (``history_from``, cloud/storage/claim_plan.py: nothing from before the claim).
_VISIBLE_TO_USER = """
    ((a.user_id = %(user)s AND a.device_id IS NULL) OR EXISTS (
        SELECT 1 FROM device_members m JOIN devices d USING (device_id)
        WHERE m.device_id = a.device_id AND m.user_id = %(user)s
        AND a.time >= coalesce(d.history_from, '-infinity')
        AND a.created_at >= coalesce(d.history_from, '-infinity')))
"""

ALERT_COLUMNS = (
    "id, device_id, user_id, kind, time, created_at, message, sick_detected, details,"
    " received_at, needs_ack, acknowledged_at, acknowledged_by, escalation_level"
)


def alert_to_json(alert: StoredAlert) -> str:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return json.dumps({
        "id": alert.id, "device_id": alert.device_id, "user_id": alert.user_id,
        "kind": alert.kind, "time": alert.time.isoformat(),
        "created_at": alert.created_at.isoformat(), "message": alert.message,
        "sick_detected": alert.sick_detected, "details": alert.details,
        "received_at": iso(alert.received_at), "needs_ack": alert.needs_ack,
        "acknowledged_at": iso(alert.acknowledged_at), "acknowledged_by": alert.acknowledged_by,
        "escalation_level": alert.escalation_level, "announcement": alert.announcement,
        "targets": list(alert.targets),
    })  # fmt: skip


def alert_from_json(document: str) -> StoredAlert:
    values = json.loads(document)
    for key in ("time", "created_at", "received_at", "acknowledged_at"):
        if values.get(key) is not None:
            values[key] = datetime.fromisoformat(values[key])
    values["targets"] = tuple(values.get("targets", ()))
    return StoredAlert(**values)


async def insert_alert(
    conn: AsyncConnection[Any],
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
    """Store one alert and queue its announcement: ``pg_notify`` inside the caller's
    transaction is delivered to every LISTENer only if and when that transaction commits."""
    cursor = await conn.execute(
        "INSERT INTO alerts (device_id, user_id, kind, time, message, sick_detected, details,"  # noqa: S608 - fixed columns
        " received_at, needs_ack, escalate_after_s, next_escalation_at)"
        " VALUES (%(device_id)s, %(user_id)s, %(kind)s, %(time)s, %(message)s, %(sick)s,"
        " %(details)s, %(received_at)s, %(needs_ack)s, %(after)s,"
        " now() + make_interval(secs => %(after)s))"
        f" RETURNING {ALERT_COLUMNS}",
        {
            "device_id": device_id, "user_id": user_id, "kind": kind, "time": time,
            "message": message, "sick": sick_detected, "details": Jsonb(details),
            "received_at": received_at, "needs_ack": escalate_after_s is not None,
            "after": escalate_after_s,
        },
    )  # fmt: skip
    row = await cursor.fetchone()
    assert row is not None
    stored = StoredAlert(**row)
    if stored.needs_ack:
        await _transition(conn, stored.id, stored.created_at, "raised", None, 0)
    await conn.execute("SELECT pg_notify(%s, %s)", (ALERT_CHANNEL, alert_to_json(stored)))
    return stored


async def _transition(
    conn: AsyncConnection[Any],
    alert_id: int,
    time: datetime,
    transition: str,
    user_id: int | None,
    level: int,
) -> None:
    await conn.execute(
        "INSERT INTO alert_transitions (alert_id, time, transition, user_id, level)"
        " VALUES (%s, %s, %s, %s, %s)",
        (alert_id, time, transition, user_id, level),
    )


async def _member_ids(conn: AsyncConnection[Any], device_id: str) -> list[int]:
    cursor = await conn.execute(
        f"SELECT m.user_id FROM device_members m WHERE m.device_id = %s ORDER BY {MEMBER_ORDER}",  # noqa: S608
        (device_id,),
    )
    return [row["user_id"] for row in await cursor.fetchall()]


async def _escalation_members(conn: AsyncConnection[Any], alert: StoredAlert) -> list[int]:
    """Whom a device alarm escalates to: the members, when it was raised in the device's current
    claim period (cloud/storage/claim_plan.py); nobody for one raised from what the device
    recorded before the claim, even when that arrived after it."""
    assert alert.device_id is not None
    cursor = await conn.execute(
        "SELECT history_from FROM devices WHERE device_id = %s", (alert.device_id,)
    )
    device = await cursor.fetchone()
    if device is None or not in_claim_period(device["history_from"], alert.time, alert.created_at):
        return []
    return await _member_ids(conn, alert.device_id)


# --- acknowledge -------------------------------------------------------------------------------


async def acknowledge_alert(
    conn: AsyncConnection[Any], user_id: int, alert_id: int, now: datetime
) -> StoredAlert | None:
    """The caller takes the alarm: it stops escalating and every member is told. A second
    acknowledgement changes nothing. None when the caller may not see the alert."""
    async with conn.transaction():
        cursor = await conn.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = %(id)s"  # noqa: S608
            f" AND {_VISIBLE_TO_USER} FOR UPDATE",
            {"id": alert_id, "user": user_id},
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        await conn.execute(
            "INSERT INTO alert_reads (alert_id, user_id, read_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (alert_id, user_id) DO NOTHING",
            (alert_id, user_id, now),
        )
        if row["acknowledged_at"] is not None:
            return StoredAlert(**row)
        cursor = await conn.execute(
            "UPDATE alerts SET acknowledged_at = %s, acknowledged_by = %s,"  # noqa: S608 - fixed columns
            f" next_escalation_at = NULL WHERE id = %s RETURNING {ALERT_COLUMNS}",
            (now, user_id, alert_id),
        )
        updated = await cursor.fetchone()
        assert updated is not None
        acknowledged = StoredAlert(**updated, announcement="acknowledged")
        await _transition(
            conn, alert_id, now, "acknowledged", user_id, acknowledged.escalation_level
        )
        await conn.execute("SELECT pg_notify(%s, %s)", (ALERT_CHANNEL, alert_to_json(acknowledged)))
        return acknowledged


# --- escalate ----------------------------------------------------------------------------------


async def escalate_due(conn: AsyncConnection[Any], now: datetime) -> list[StoredAlert]:
    """Send every unacknowledged alarm whose time has come again, one level further down the
    nursery's caregiver order (owner first, then caregivers as they joined)."""
    escalated = []
    async with conn.transaction():
        cursor = await conn.execute(
            f"SELECT {ALERT_COLUMNS}, escalate_after_s FROM alerts"  # noqa: S608
            " WHERE next_escalation_at <= %s AND acknowledged_at IS NULL"
            " ORDER BY next_escalation_at LIMIT %s FOR UPDATE SKIP LOCKED",
            (now, ESCALATION_BATCH),
        )
        for row in await cursor.fetchall():
            after = row.pop("escalate_after_s")
            alert = StoredAlert(**row)
            members = await _escalation_members(conn, alert) if alert.device_id else []
            if alert.user_id is not None:
                members = [alert.user_id]
            if not members:
                await conn.execute(
                    "UPDATE alerts SET next_escalation_at = NULL WHERE id = %s", (alert.id,)
                )
                continue
            level = alert.escalation_level + 1
            # The last level reaches the last caregiver; a nursery of one is reminded once.
            last_level = max(1, len(members) - 1)
            escalated_to = members[min(level, len(members) - 1)]
            await conn.execute(
                "UPDATE alerts SET escalation_level = %s, next_escalation_at = CASE WHEN %s"
                " THEN %s + make_interval(secs => %s) END WHERE id = %s",
                (level, level < last_level, now, after, alert.id),
            )
            await _transition(conn, alert.id, now, "escalated", escalated_to, level)
            announcement = StoredAlert(
                **{**_fields(alert), "escalation_level": level},
                announcement="escalated",
                targets=tuple(members[: level + 1]),
            )
            await conn.execute(
                "SELECT pg_notify(%s, %s)", (ALERT_CHANNEL, alert_to_json(announcement))
            )
            escalated.append(announcement)
    return escalated


def _fields(alert: StoredAlert) -> dict[str, Any]:
    return {
        name: getattr(alert, name)
        for name in alert.__slots__
        if name not in ("announcement", "targets")
    }


async def settle_offline_alarms(conn: AsyncConnection[Any], device_ids: list[str]) -> None:
    """Back online: an open offline alarm has nothing left to escalate (the DEVICE_ONLINE
    notice tells everyone); it stays open for the record until someone acknowledges it."""
    if device_ids:
        await conn.execute(
            "UPDATE alerts SET next_escalation_at = NULL WHERE device_id = ANY(%s)"
            " AND kind = 'DEVICE_OFFLINE' AND next_escalation_at IS NOT NULL",
            (device_ids,),
        )


# --- deliveries and their statistics -----------------------------------------------------------


async def record_deliveries(
    conn: AsyncConnection[Any], deliveries: Sequence[AlertDelivery]
) -> None:
    if not deliveries:
        return
    await conn.execute(
        "INSERT INTO alert_deliveries (alert_id, user_id, level, sent_at)"
        " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::timestamptz[])"
        " ON CONFLICT DO NOTHING",
        (
            [d.alert_id for d in deliveries],
            [d.user_id for d in deliveries],
            [d.level for d in deliveries],
            [d.sent_at for d in deliveries],
        ),
    )


async def delivery_stats(
    conn: AsyncConnection[Any], user_id: int, device_id: str, since: datetime
) -> DeliveryStats | None:
    cursor = await conn.execute(
        "SELECT d.last_seen, d.history_from FROM devices d JOIN device_members m USING (device_id)"
        " WHERE d.device_id = %s AND m.user_id = %s",
        (device_id, user_id),
    )
    device = await cursor.fetchone()
    if device is None:
        return None
    cursor = await conn.execute(
        "SELECT a.needs_ack, a.acknowledged_at IS NULL AS open,"
        " extract(epoch FROM (SELECT min(sent_at) FROM alert_deliveries x"
        "   WHERE x.alert_id = a.id AND x.level = 0) - a.time) AS delay_s,"
        " extract(epoch FROM a.acknowledged_at - a.created_at) AS ack_s"
        " FROM alerts a WHERE a.device_id = %(device)s AND a.created_at >= %(since)s"
        " AND a.time >= coalesce(%(period)s::timestamptz, '-infinity')"
        " AND a.created_at >= coalesce(%(period)s::timestamptz, '-infinity')",
        {"device": device_id, "since": since, "period": device["history_from"]},
    )
    rows = await cursor.fetchall()
    delays = [float(r["delay_s"]) for r in rows if r["delay_s"] is not None]
    # Only alarms are waited on; a notice someone happened to acknowledge says nothing.
    acks = [float(r["ack_s"]) for r in rows if r["ack_s"] is not None and r["needs_ack"]]
    return DeliveryStats(
        device_id=device_id,
        last_seen=device["last_seen"],
        alerts=len(rows),
        unacknowledged=sum(1 for r in rows if r["needs_ack"] and r["open"]),
        delay_p50_s=percentile(delays, 50),
        delay_p95_s=percentile(delays, 95),
        ack_p50_s=percentile(acks, 50),
        ack_p95_s=percentile(acks, 95),
    )


async def alert_visible_to(conn: AsyncConnection[Any], user_id: int, alert_id: int) -> bool:
    """Whether the user may see the alert's history (its transitions, its deliveries)."""
    cursor = await conn.execute(
        f"SELECT 1 FROM alerts a WHERE a.id = %(id)s AND {_VISIBLE_TO_USER}",  # noqa: S608
        {"id": alert_id, "user": user_id},
    )
    return await cursor.fetchone() is not None


async def list_transitions(
    conn: AsyncConnection[Any], user_id: int, alert_id: int
) -> list[AlertTransition] | None:
    if not await alert_visible_to(conn, user_id, alert_id):
        return None
    cursor = await conn.execute(
        "SELECT time, transition, user_id, level FROM alert_transitions"
        " WHERE alert_id = %s ORDER BY time, id",
        (alert_id,),
    )
    return [AlertTransition(**row) for row in await cursor.fetchall()]


# --- gaps --------------------------------------------------------------------------------------


async def list_gaps(
    conn: AsyncConnection[Any],
    user_id: int,
    device_id: str | None,
    start: datetime | None,
    end: datetime | None,
    include_closed: bool = False,
) -> list[Gap]:
    cursor = await conn.execute(
        "SELECT g.id, g.device_id, g.start_time AS start, g.end_time AS end, g.reason,"
        " g.first_seq, g.last_seq, g.closed_at FROM gaps g"
        " JOIN device_members m ON m.device_id = g.device_id AND m.user_id = %(user)s"
        " JOIN devices d ON d.device_id = g.device_id"
        " WHERE (%(device)s::text IS NULL OR g.device_id = %(device)s)"
        " AND g.start_time >= coalesce(d.history_from, '-infinity')"
        " AND (%(closed)s OR g.closed_at IS NULL)"
        " AND (%(end)s::timestamptz IS NULL OR g.start_time <= %(end)s)"
        " AND (%(start)s::timestamptz IS NULL OR coalesce(g.end_time, 'infinity') >= %(start)s)"
        " ORDER BY g.start_time DESC, g.id DESC LIMIT 1000",
        {"user": user_id, "device": device_id, "closed": include_closed, "start": start,
         "end": end},
    )  # fmt: skip
    return [Gap(**row) for row in await cursor.fetchall()]
