"""The push methods of SqliteStorage (the queries are in push.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from cloud.storage.push_records import (
    DeliveryRecord,
    NewPushSubscription,
    PushClaim,
    PushDelivery,
    PushJob,
    PushResult,
    PushStatus,
    PushSubscription,
)
from cloud.storage.records import StoredAlert
from cloud.storage.sqlite.database import SqliteDatabase
from cloud.storage.sqlite.push import (
    acknowledge_delivery,
    cancel_pending,
    claim_deliveries,
    claim_due,
    delete_subscription,
    get_alert,
    list_alert_deliveries,
    list_subscriptions,
    record_result,
    register_subscription,
    release_leases,
    renew_lease,
    subscriptions_where,
    unpushed_alarms,
)

T = TypeVar("T")


class SqlitePushStorage:
    """The push part of SqliteStorage (mixed in; it provides ``_db``)."""

    _db: SqliteDatabase

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.run(work)

    async def register_push_subscription(
        self, subscription: NewPushSubscription, now: datetime
    ) -> tuple[PushSubscription, bool]:
        return await self._run(lambda conn: register_subscription(conn, subscription, now))

    async def list_push_subscriptions(self, user_id: int) -> list[PushSubscription]:
        return await self._run(lambda conn: list_subscriptions(conn, user_id))

    async def delete_push_subscription(self, user_id: int, subscription_id: int) -> bool:
        return await self._run(lambda conn: delete_subscription(conn, user_id, subscription_id))

    async def push_subscriptions_of(self, user_ids: list[int]) -> list[PushSubscription]:
        return await self._run(lambda conn: subscriptions_where(conn, "user_id", user_ids))

    async def get_push_subscriptions(self, subscription_ids: list[int]) -> list[PushSubscription]:
        return await self._run(lambda conn: subscriptions_where(conn, "id", subscription_ids))

    async def claim_push_deliveries(
        self, claims: list[PushClaim], now: datetime, lease_until: datetime
    ) -> list[PushDelivery]:
        return await self._run(lambda conn: claim_deliveries(conn, claims, now, lease_until))

    async def claim_due_push_deliveries(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[PushJob]:
        return await self._run(lambda conn: claim_due(conn, now, lease_until, limit))

    async def record_push_result(self, result: PushResult) -> PushStatus | None:
        return await self._run(lambda conn: record_result(conn, result))

    async def renew_push_lease(
        self, delivery_id: int, attempt: int, now: datetime, lease_until: datetime
    ) -> bool:
        return await self._run(
            lambda conn: renew_lease(conn, delivery_id, attempt, now, lease_until)
        )

    async def release_push_leases(self, leases: list[tuple[int, int]], now: datetime) -> None:
        await self._run(lambda conn: release_leases(conn, leases, now))

    async def unpushed_alarms(self, since: datetime, limit: int) -> list[StoredAlert]:
        return await self._run(lambda conn: unpushed_alarms(conn, since, limit))

    async def cancel_pending_push(self, alert_id: int) -> list[PushDelivery]:
        return await self._run(lambda conn: cancel_pending(conn, alert_id))

    async def acknowledge_push_delivery(
        self, alert_id: int, subscription_id: int, now: datetime
    ) -> None:
        await self._run(lambda conn: acknowledge_delivery(conn, alert_id, subscription_id, now))

    async def get_alert(self, alert_id: int) -> StoredAlert | None:
        return await self._run(lambda conn: get_alert(conn, alert_id))

    async def list_alert_deliveries(
        self, user_id: int, alert_id: int
    ) -> list[DeliveryRecord] | None:
        return await self._run(lambda conn: list_alert_deliveries(conn, user_id, alert_id))
