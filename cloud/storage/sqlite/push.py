"""Push subscriptions and push deliveries on SQLite, with the semantics of postgres/push.py (one
process: the write transaction is the only lock a claim needs)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

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
from cloud.storage.sqlite.alarms import ALERT_COLUMNS, alert_visible_to, stored_alert
from cloud.storage.sqlite.database import (
    Transaction,
    from_db_time,
    optional_time,
    to_db_time,
)


def _subscription(row: sqlite3.Row) -> PushSubscription:
    return PushSubscription(
        id=row["id"], user_id=row["user_id"], channel=row["channel"], endpoint=row["endpoint"],
        p256dh=row["p256dh"], auth=row["auth"], label=row["label"],
        user_agent=row["user_agent"], created_at=from_db_time(row["created_at"]),
        updated_at=from_db_time(row["updated_at"]),
        last_success_at=optional_time(row["last_success_at"]),
        last_failure_at=optional_time(row["last_failure_at"]), failures=row["failures"],
    )  # fmt: skip


def _delivery(row: sqlite3.Row) -> PushDelivery:
    return PushDelivery(
        id=row["id"], alert_id=row["alert_id"], escalation_level=row["escalation_level"],
        purpose=row["purpose"], subscription_id=row["subscription_id"], user_id=row["user_id"],
        channel=row["channel"], status=row["status"], attempts=row["attempts"],
        next_attempt_at=optional_time(row["next_attempt_at"]),
        created_at=from_db_time(row["created_at"]), sent_at=optional_time(row["sent_at"]),
        accepted_at=optional_time(row["accepted_at"]),
        acknowledged_at=optional_time(row["acknowledged_at"]),
        last_status=row["last_status"], error=row["error"],
    )  # fmt: skip


def _marks(values: list[int]) -> str:
    return ", ".join("?" for _ in values)


def register_subscription(
    conn: sqlite3.Connection, new: NewPushSubscription, now: datetime
) -> tuple[PushSubscription, bool]:
    with Transaction(conn):
        existing = conn.execute(
            "SELECT id FROM push_subscriptions WHERE endpoint = ?", (new.endpoint,)
        ).fetchone()
        row = conn.execute(
            "INSERT INTO push_subscriptions AS s (user_id, channel, endpoint, p256dh, auth, label,"  # noqa: S608 - fixed columns
            " user_agent, created_at, updated_at)"
            " VALUES (:user, :channel, :endpoint, :p256dh, :auth, :label, :agent, :now, :now)"
            " ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id,"
            " channel = excluded.channel, p256dh = excluded.p256dh, auth = excluded.auth,"
            " label = CASE WHEN s.user_id = excluded.user_id"
            "   THEN coalesce(excluded.label, s.label) ELSE excluded.label END,"
            " user_agent = excluded.user_agent, updated_at = excluded.updated_at, failures = 0"
            f" RETURNING {SUBSCRIPTION_COLUMNS}",
            {"user": new.user_id, "channel": new.channel, "endpoint": new.endpoint,
             "p256dh": new.p256dh, "auth": new.auth, "label": new.label,
             "agent": new.user_agent, "now": to_db_time(now)},
        ).fetchone()  # fmt: skip
        subscription = _subscription(row)
        conn.execute(
            "DELETE FROM push_subscriptions WHERE id IN (SELECT id FROM push_subscriptions"
            " WHERE user_id = ? ORDER BY updated_at DESC, id DESC LIMIT -1 OFFSET ?)",
            (new.user_id, MAX_SUBSCRIPTIONS_PER_USER),
        )
    return subscription, existing is None


def list_subscriptions(conn: sqlite3.Connection, user_id: int) -> list[PushSubscription]:
    rows = conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE user_id = ?"  # noqa: S608
        " ORDER BY created_at, id",
        (user_id,),
    ).fetchall()
    return [_subscription(row) for row in rows]


def delete_subscription(conn: sqlite3.Connection, user_id: int, sub_id: int) -> bool:
    with Transaction(conn):
        cursor = conn.execute(
            "DELETE FROM push_subscriptions WHERE id = ? AND user_id = ?", (sub_id, user_id)
        )
    return cursor.rowcount > 0


def subscriptions_where(
    conn: sqlite3.Connection, column: str, values: list[int]
) -> list[PushSubscription]:
    if not values:
        return []
    assert column in ("id", "user_id")
    rows = conn.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions"  # noqa: S608 - fixed columns
        f" WHERE {column} IN ({_marks(values)}) ORDER BY id",
        values,
    ).fetchall()
    return [_subscription(row) for row in rows]


def claim_deliveries(
    conn: sqlite3.Connection, claims: list[PushClaim], now: datetime, lease_until: datetime
) -> list[PushDelivery]:
    claimed = []
    with Transaction(conn):
        for claim in claims:
            row = conn.execute(
                "INSERT OR IGNORE INTO push_deliveries (alert_id, escalation_level, purpose,"  # noqa: S608 - fixed columns
                " subscription_id, user_id, channel, status, attempts, next_attempt_at,"
                " created_at)"
                " SELECT ?, ?, ?, ?, ?, ?, 'sending', 1, ?, ?"
                " WHERE EXISTS (SELECT 1 FROM push_subscriptions WHERE id = ?)"
                " AND (? <> 'alert' OR NOT EXISTS (SELECT 1 FROM alerts"
                "   WHERE id = ? AND acknowledged_at IS NOT NULL))"
                f" RETURNING {DELIVERY_COLUMNS}",
                (claim.alert_id, claim.escalation_level, claim.purpose, claim.subscription_id,
                 claim.user_id, claim.channel, to_db_time(lease_until), to_db_time(now),
                 claim.subscription_id, claim.purpose, claim.alert_id),
            ).fetchone()  # fmt: skip
            if row is not None:
                claimed.append(_delivery(row))
    return claimed


def claim_due(
    conn: sqlite3.Connection, now: datetime, lease_until: datetime, limit: int
) -> list[PushJob]:
    # A read first: the sweeper asks every 0.5 s, and a write transaction each time would
    # contend with ingest for SQLite's one writer when (almost always) nothing is due.
    due = conn.execute(
        "SELECT 1 FROM push_deliveries WHERE status IN ('sending', 'retrying')"
        " AND next_attempt_at <= ? LIMIT 1",
        (to_db_time(now),),
    ).fetchone()
    if due is None:
        return []
    with Transaction(conn):
        rows = conn.execute(
            "UPDATE push_deliveries SET status = 'sending', attempts = attempts + 1,"  # noqa: S608 - fixed columns
            " next_attempt_at = :lease"
            " WHERE id IN (SELECT id FROM push_deliveries"
            "   WHERE status IN ('sending', 'retrying') AND next_attempt_at <= :now"
            "   ORDER BY next_attempt_at LIMIT :limit)"
            f" RETURNING {DELIVERY_COLUMNS}",
            {"lease": to_db_time(lease_until), "now": to_db_time(now), "limit": limit},
        ).fetchall()
        deliveries = sorted((_delivery(row) for row in rows), key=lambda d: d.id)
        ids = [d.subscription_id for d in deliveries if d.subscription_id is not None]
        subscriptions = {s.id: s for s in subscriptions_where(conn, "id", ids)}
    return [
        PushJob(d, None if d.subscription_id is None else subscriptions.get(d.subscription_id))
        for d in deliveries
    ]


def record_result(conn: sqlite3.Connection, result: PushResult) -> PushStatus | None:
    at = to_db_time(result.at)
    with Transaction(conn):
        row = conn.execute(
            "UPDATE push_deliveries SET"
            " status = CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE :status END,"
            " next_attempt_at = CASE WHEN status = 'cancelled' THEN NULL ELSE :next END,"
            " accepted_at = CASE WHEN :status = 'accepted' THEN :at ELSE accepted_at END,"
            " last_status = :code, error = :error"
            " WHERE id = :id AND attempts = :attempt AND status IN ('sending', 'cancelled')"
            " RETURNING status, subscription_id",
            {"status": result.status, "at": at, "code": result.last_status,
             "next": None if result.next_attempt_at is None else to_db_time(result.next_attempt_at),
             "error": result.error, "id": result.delivery_id, "attempt": result.attempt},
        ).fetchone()  # fmt: skip
        if row is None:
            return None
        sub_id = row["subscription_id"]
        if sub_id is not None:
            if result.status == "expired":
                conn.execute("DELETE FROM push_subscriptions WHERE id = ?", (sub_id,))
            elif result.status == "accepted":
                conn.execute(
                    "UPDATE push_subscriptions SET last_success_at = ?, failures = 0 WHERE id = ?",
                    (at, sub_id),
                )
            else:
                conn.execute(
                    "UPDATE push_subscriptions SET last_failure_at = ?, failures = failures + 1"
                    " WHERE id = ?",
                    (at, sub_id),
                )
        status: PushStatus = row["status"]
    return status


def cancel_pending(conn: sqlite3.Connection, alert_id: int) -> list[PushDelivery]:
    with Transaction(conn):
        conn.execute(
            "UPDATE push_deliveries SET status = 'cancelled', next_attempt_at = NULL,"
            " error = 'acknowledged' WHERE alert_id = ? AND purpose = 'alert'"
            " AND status IN ('sending', 'retrying')",
            (alert_id,),
        )
        rows = conn.execute(
            f"SELECT {DELIVERY_COLUMNS} FROM push_deliveries"  # noqa: S608 - fixed columns
            " WHERE alert_id = ? AND purpose = 'alert' ORDER BY id",
            (alert_id,),
        ).fetchall()
    return [_delivery(row) for row in rows]


def renew_lease(
    conn: sqlite3.Connection, delivery_id: int, attempt: int, now: datetime, lease_until: datetime
) -> bool:
    with Transaction(conn):
        row = conn.execute(
            "UPDATE push_deliveries SET next_attempt_at = ?, sent_at = ?"
            " WHERE id = ? AND attempts = ? AND status = 'sending' RETURNING id",
            (to_db_time(lease_until), to_db_time(now), delivery_id, attempt),
        ).fetchone()
    return row is not None


def release_leases(conn: sqlite3.Connection, leases: list[tuple[int, int]], now: datetime) -> None:
    with Transaction(conn):
        conn.executemany(
            "UPDATE push_deliveries SET next_attempt_at = ?"
            " WHERE id = ? AND attempts = ? AND status = 'sending'",
            [(to_db_time(now), delivery_id, attempt) for delivery_id, attempt in leases],
        )


def unpushed_alarms(conn: sqlite3.Connection, since: datetime, limit: int) -> list[StoredAlert]:
    rows = conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.created_at >= :since"  # noqa: S608 - fixed columns
        f" AND a.acknowledged_at IS NULL AND {UNPUSHED_ALARM}"
        " ORDER BY a.id DESC LIMIT :limit",
        {"since": to_db_time(since), "limit": limit},
    ).fetchall()
    return [stored_alert(row) for row in rows]


def acknowledge_delivery(
    conn: sqlite3.Connection, alert_id: int, sub_id: int, now: datetime
) -> None:
    with Transaction(conn):
        conn.execute(
            "UPDATE push_deliveries SET acknowledged_at = ? WHERE alert_id = ?"
            " AND subscription_id = ? AND purpose = 'alert' AND acknowledged_at IS NULL",
            (to_db_time(now), alert_id, sub_id),
        )


def get_alert(conn: sqlite3.Connection, alert_id: int) -> StoredAlert | None:
    row = conn.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?",  # noqa: S608 - fixed columns
        (alert_id,),
    ).fetchone()
    return None if row is None else stored_alert(row)


def list_alert_deliveries(
    conn: sqlite3.Connection, user_id: int, alert_id: int
) -> list[DeliveryRecord] | None:
    with Transaction(conn, "DEFERRED"):
        if not alert_visible_to(conn, user_id, alert_id):
            return None
        rows = conn.execute(
            "SELECT 'websocket' AS channel, user_id, level AS escalation_level,"
            " 'alert' AS purpose, NULL AS subscription_id, 'sent' AS status, 1 AS attempts,"
            " sent_at AS created_at, sent_at, NULL AS accepted_at, NULL AS acknowledged_at,"
            " NULL AS last_status, NULL AS error FROM alert_deliveries WHERE alert_id = :id"
            " UNION ALL SELECT channel, user_id, escalation_level, purpose, subscription_id,"
            " status, attempts, created_at, sent_at, accepted_at, acknowledged_at, last_status,"
            " error FROM push_deliveries WHERE alert_id = :id"
            " ORDER BY created_at, channel, user_id",
            {"id": alert_id},
        ).fetchall()
    return [_record(r) for r in rows]


def _record(r: sqlite3.Row) -> DeliveryRecord:
    return DeliveryRecord(
        channel=r["channel"], user_id=r["user_id"], escalation_level=r["escalation_level"],
        purpose=r["purpose"], subscription_id=r["subscription_id"], status=r["status"],
        attempts=r["attempts"], created_at=from_db_time(r["created_at"]),
        sent_at=optional_time(r["sent_at"]), accepted_at=optional_time(r["accepted_at"]),
        acknowledged_at=optional_time(r["acknowledged_at"]),
        last_status=r["last_status"], error=r["error"],
    )  # fmt: skip
