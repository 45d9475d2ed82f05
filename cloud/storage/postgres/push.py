"""Push subscriptions and push deliveries on PostgreSQL.

Several API processes run the push pipeline against one database. A delivery row is owned by
the process whose ``INSERT .. ON CONFLICT DO NOTHING`` created it; retries are handed out with
``FOR UPDATE SKIP LOCKED`` under a lease (``next_attempt_at`` of a ``sending`` row), so a row
whose process died mid-send is picked up again once its lease has passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from cloud.storage.postgres.alarms import ALERT_COLUMNS, alert_visible_to
from cloud.storage.push_records import (
    MAX_SUBSCRIPTIONS_PER_USER,
    DeliveryRecord,
    NewPushSubscription,
    PushClaim,
    PushDelivery,
    PushJob,
    PushResult,
    PushStatus,
    PushSubscription,
)
from cloud.storage.push_sql import DELIVERY_COLUMNS, SUBSCRIPTION_COLUMNS, UNPUSHED_ALARM
from cloud.storage.records import StoredAlert


async def register_subscription(
    conn: AsyncConnection[Any], new: NewPushSubscription, now: datetime
) -> tuple[PushSubscription, bool]:
    async with conn.transaction():
        # Serialises this user's registrations: the cap below counts what they committed.
        await conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (new.user_id,))
        cursor = await conn.execute(
            "INSERT INTO push_subscriptions AS s (user_id, channel, endpoint, p256dh, auth, label,"  # noqa: S608 - fixed columns
            " user_agent, created_at, updated_at)"
            " VALUES (%(user)s, %(channel)s, %(endpoint)s, %(p256dh)s, %(auth)s, %(label)s,"
            " %(agent)s, %(now)s, %(now)s)"
            " ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id,"
            " channel = EXCLUDED.channel, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,"
            # The same account keeps its label unless it gives a new one; another account's
            # label never travels with the endpoint.
            " label = CASE WHEN s.user_id = EXCLUDED.user_id"
            "   THEN coalesce(EXCLUDED.label, s.label) ELSE EXCLUDED.label END,"
            " user_agent = EXCLUDED.user_agent, updated_at = EXCLUDED.updated_at,"
            " failures = 0"
            f" RETURNING {SUBSCRIPTION_COLUMNS}, (xmax = 0) AS created",
            {"user": new.user_id, "channel": new.channel, "endpoint": new.endpoint,
             "p256dh": new.p256dh, "auth": new.auth, "label": new.label,
             "agent": new.user_agent, "now": now},
        )  # fmt: skip
        row = await cursor.fetchone()
        assert row is not None
        created = row.pop("created")
        await conn.execute(
            "DELETE FROM push_subscriptions WHERE id IN (SELECT id FROM push_subscriptions"
            " WHERE user_id = %s ORDER BY updated_at DESC, id DESC OFFSET %s)",
            (new.user_id, MAX_SUBSCRIPTIONS_PER_USER),
        )
    return PushSubscription(**row), bool(created)


async def list_subscriptions(conn: AsyncConnection[Any], user_id: int) -> list[PushSubscription]:
    cursor = await conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE user_id = %s"  # noqa: S608
        " ORDER BY created_at, id",
        (user_id,),
    )
    return [PushSubscription(**row) for row in await cursor.fetchall()]


async def delete_subscription(conn: AsyncConnection[Any], user_id: int, sub_id: int) -> bool:
    cursor = await conn.execute(
        "DELETE FROM push_subscriptions WHERE id = %s AND user_id = %s", (sub_id, user_id)
    )
    return cursor.rowcount > 0


async def subscriptions_of_users(
    conn: AsyncConnection[Any], user_ids: list[int]
) -> list[PushSubscription]:
    cursor = await conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE user_id = ANY(%s)"  # noqa: S608
        " ORDER BY id",
        (user_ids,),
    )
    return [PushSubscription(**row) for row in await cursor.fetchall()]


async def subscriptions_by_id(
    conn: AsyncConnection[Any], sub_ids: list[int]
) -> list[PushSubscription]:
    cursor = await conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE id = ANY(%s)"  # noqa: S608
        " ORDER BY id",
        (sub_ids,),
    )
    return [PushSubscription(**row) for row in await cursor.fetchall()]


async def claim_deliveries(
    conn: AsyncConnection[Any], claims: list[PushClaim], now: datetime, lease_until: datetime
) -> list[PushDelivery]:
    if not claims:
        return []
    cursor = await conn.execute(
        "INSERT INTO push_deliveries (alert_id, escalation_level, purpose, subscription_id,"  # noqa: S608 - fixed columns
        " user_id, channel, status, attempts, next_attempt_at, created_at)"
        " SELECT c.alert_id, c.level, c.purpose, c.sub_id, c.user_id, c.channel, 'sending', 1,"
        " %s, %s FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::bigint[],"
        " %s::bigint[], %s::text[]) AS c(alert_id, level, purpose, sub_id, user_id, channel)"
        # A subscription deleted since it was read is skipped, not an error; so is an alarm
        # push of an alert acknowledged meanwhile (its acknowledgement has cancelled the rest).
        " WHERE EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.id = c.sub_id)"
        " AND (c.purpose <> 'alert' OR NOT EXISTS (SELECT 1 FROM alerts a"
        "   WHERE a.id = c.alert_id AND a.acknowledged_at IS NOT NULL))"
        f" ON CONFLICT DO NOTHING RETURNING {DELIVERY_COLUMNS}",
        (lease_until, now,
         [c.alert_id for c in claims], [c.escalation_level for c in claims],
         [c.purpose for c in claims], [c.subscription_id for c in claims],
         [c.user_id for c in claims], [c.channel for c in claims]),
    )  # fmt: skip
    return [PushDelivery(**row) for row in await cursor.fetchall()]


async def claim_due(
    conn: AsyncConnection[Any], now: datetime, lease_until: datetime, limit: int
) -> list[PushJob]:
    async with conn.transaction():
        cursor = await conn.execute(
            "UPDATE push_deliveries SET status = 'sending', attempts = attempts + 1,"  # noqa: S608 - fixed columns
            " next_attempt_at = %(lease)s"
            " WHERE id IN (SELECT id FROM push_deliveries"
            "   WHERE status IN ('sending', 'retrying') AND next_attempt_at <= %(now)s"
            "   ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            f" RETURNING {DELIVERY_COLUMNS}",
            {"lease": lease_until, "now": now, "limit": limit},
        )
        deliveries = [PushDelivery(**row) for row in await cursor.fetchall()]
    ids = [d.subscription_id for d in deliveries if d.subscription_id is not None]
    subscriptions = {s.id: s for s in await subscriptions_by_id(conn, ids)} if ids else {}
    return [
        PushJob(d, None if d.subscription_id is None else subscriptions.get(d.subscription_id))
        for d in deliveries
    ]


async def record_result(conn: AsyncConnection[Any], result: PushResult) -> PushStatus | None:
    async with conn.transaction():
        cursor = await conn.execute(
            "UPDATE push_deliveries SET"
            # A row cancelled while its request was in flight stays cancelled: the answer is
            # still recorded, for the record and so the caller can follow up.
            " status = CASE WHEN status = 'cancelled' THEN 'cancelled'"
            "   ELSE %(status)s::text END,"
            " next_attempt_at = CASE WHEN status = 'cancelled' THEN NULL"
            "   ELSE %(next)s::timestamptz END,"
            " accepted_at = CASE WHEN %(status)s::text = 'accepted' THEN %(at)s::timestamptz"
            "   ELSE accepted_at END,"
            " last_status = %(code)s, error = %(error)s"
            " WHERE id = %(id)s AND attempts = %(attempt)s AND status IN ('sending', 'cancelled')"
            " RETURNING status, subscription_id",
            {"status": result.status, "next": result.next_attempt_at, "at": result.at,
             "code": result.last_status, "error": result.error, "id": result.delivery_id,
             "attempt": result.attempt},
        )  # fmt: skip
        row = await cursor.fetchone()
        if row is None:
            return None
        sub_id = row["subscription_id"]
        if sub_id is not None:
            if result.status == "expired":
                await conn.execute("DELETE FROM push_subscriptions WHERE id = %s", (sub_id,))
            elif result.status == "accepted":
                await conn.execute(
                    "UPDATE push_subscriptions SET last_success_at = %s, failures = 0"
                    " WHERE id = %s",
                    (result.at, sub_id),
                )
            else:
                await conn.execute(
                    "UPDATE push_subscriptions SET last_failure_at = %s, failures = failures + 1"
                    " WHERE id = %s",
                    (result.at, sub_id),
                )
        status: PushStatus = row["status"]
        return status


async def renew_lease(
    conn: AsyncConnection[Any], delivery_id: int, attempt: int, now: datetime, lease_until: datetime
) -> bool:
    cursor = await conn.execute(
        "UPDATE push_deliveries SET next_attempt_at = %s, sent_at = %s"
        " WHERE id = %s AND attempts = %s AND status = 'sending' RETURNING id",
        (lease_until, now, delivery_id, attempt),
    )
    return await cursor.fetchone() is not None


async def release_leases(
    conn: AsyncConnection[Any], leases: list[tuple[int, int]], now: datetime
) -> None:
    await conn.execute(
        "UPDATE push_deliveries d SET next_attempt_at = %s"
        " FROM unnest(%s::bigint[], %s::int[]) AS l(id, attempt)"
        " WHERE d.id = l.id AND d.attempts = l.attempt AND d.status = 'sending'",
        (now, [lease[0] for lease in leases], [lease[1] for lease in leases]),
    )


async def unpushed_alarms(
    conn: AsyncConnection[Any], since: datetime, limit: int
) -> list[StoredAlert]:
    cursor = await conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.created_at >= %(since)s"  # noqa: S608 - fixed columns
        f" AND a.acknowledged_at IS NULL AND {UNPUSHED_ALARM}"
        " ORDER BY a.id DESC LIMIT %(limit)s",
        {"since": since, "limit": limit},
    )
    return [StoredAlert(**row) for row in await cursor.fetchall()]


async def cancel_pending(conn: AsyncConnection[Any], alert_id: int) -> list[PushDelivery]:
    async with conn.transaction():
        await conn.execute(
            "UPDATE push_deliveries SET status = 'cancelled', next_attempt_at = NULL,"
            " error = 'acknowledged' WHERE alert_id = %s AND purpose = 'alert'"
            " AND status IN ('sending', 'retrying')",
            (alert_id,),
        )
        cursor = await conn.execute(
            f"SELECT {DELIVERY_COLUMNS} FROM push_deliveries"  # noqa: S608 - fixed columns
            " WHERE alert_id = %s AND purpose = 'alert' ORDER BY id",
            (alert_id,),
        )
        return [PushDelivery(**row) for row in await cursor.fetchall()]


async def acknowledge_delivery(
    conn: AsyncConnection[Any], alert_id: int, sub_id: int, now: datetime
) -> None:
    await conn.execute(
        "UPDATE push_deliveries SET acknowledged_at = %s WHERE alert_id = %s"
        " AND subscription_id = %s AND purpose = 'alert' AND acknowledged_at IS NULL",
        (now, alert_id, sub_id),
    )


async def get_alert(conn: AsyncConnection[Any], alert_id: int) -> StoredAlert | None:
    cursor = await conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s",  # noqa: S608 - fixed columns
        (alert_id,),
    )
    row = await cursor.fetchone()
    return None if row is None else StoredAlert(**row)


async def list_alert_deliveries(
    conn: AsyncConnection[Any], user_id: int, alert_id: int
) -> list[DeliveryRecord] | None:
    if not await alert_visible_to(conn, user_id, alert_id):
        return None
    cursor = await conn.execute(
        "SELECT 'websocket' AS channel, user_id, level AS escalation_level, 'alert' AS purpose,"
        " NULL::bigint AS subscription_id, 'sent' AS status, 1 AS attempts,"
        " sent_at AS created_at, sent_at, NULL::timestamptz AS accepted_at,"
        " NULL::timestamptz AS acknowledged_at, NULL::int AS last_status, NULL AS error"
        " FROM alert_deliveries WHERE alert_id = %(id)s"
        " UNION ALL SELECT channel, user_id, escalation_level, purpose, subscription_id, status,"
        " attempts, created_at, sent_at, accepted_at, acknowledged_at, last_status, error"
        " FROM push_deliveries WHERE alert_id = %(id)s"
        " ORDER BY created_at, channel, user_id",
        {"id": alert_id},
    )
    return [DeliveryRecord(**row) for row in await cursor.fetchall()]
