"""The push methods of PostgresStorage (the queries are in push.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from cloud.storage.postgres.push import (
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
    subscriptions_by_id,
    subscriptions_of_users,
    unpushed_alarms,
)
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


class PostgresPushStorage:
    """The push part of PostgresStorage (mixed in; it provides ``_connection``)."""

    _connection: Callable[[], AbstractAsyncContextManager[AsyncConnection[DictRow]]]

    async def register_push_subscription(
        self, subscription: NewPushSubscription, now: datetime
    ) -> tuple[PushSubscription, bool]:
        async with self._connection() as conn:
            return await register_subscription(conn, subscription, now)

    async def list_push_subscriptions(self, user_id: int) -> list[PushSubscription]:
        async with self._connection() as conn:
            return await list_subscriptions(conn, user_id)

    async def delete_push_subscription(self, user_id: int, subscription_id: int) -> bool:
        async with self._connection() as conn:
            return await delete_subscription(conn, user_id, subscription_id)

    async def push_subscriptions_of(self, user_ids: list[int]) -> list[PushSubscription]:
        async with self._connection() as conn:
            return await subscriptions_of_users(conn, user_ids)

    async def get_push_subscriptions(self, subscription_ids: list[int]) -> list[PushSubscription]:
        async with self._connection() as conn:
            return await subscriptions_by_id(conn, subscription_ids)

    async def claim_push_deliveries(
        self, claims: list[PushClaim], now: datetime, lease_until: datetime
    ) -> list[PushDelivery]:
        async with self._connection() as conn:
            return await claim_deliveries(conn, claims, now, lease_until)

    async def claim_due_push_deliveries(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[PushJob]:
        async with self._connection() as conn:
            return await claim_due(conn, now, lease_until, limit)

    async def record_push_result(self, result: PushResult) -> PushStatus | None:
        async with self._connection() as conn:
            return await record_result(conn, result)

    async def renew_push_lease(
        self, delivery_id: int, attempt: int, now: datetime, lease_until: datetime
    ) -> bool:
        async with self._connection() as conn:
            return await renew_lease(conn, delivery_id, attempt, now, lease_until)

    async def release_push_leases(self, leases: list[tuple[int, int]], now: datetime) -> None:
        async with self._connection() as conn:
            await release_leases(conn, leases, now)

    async def unpushed_alarms(self, since: datetime, limit: int) -> list[StoredAlert]:
        async with self._connection() as conn:
            return await unpushed_alarms(conn, since, limit)

    async def cancel_pending_push(self, alert_id: int) -> list[PushDelivery]:
        async with self._connection() as conn:
            return await cancel_pending(conn, alert_id)

    async def acknowledge_push_delivery(
        self, alert_id: int, subscription_id: int, now: datetime
    ) -> None:
        async with self._connection() as conn:
            await acknowledge_delivery(conn, alert_id, subscription_id, now)

    async def get_alert(self, alert_id: int) -> StoredAlert | None:
        async with self._connection() as conn:
            return await get_alert(conn, alert_id)

    async def list_alert_deliveries(
        self, user_id: int, alert_id: int
    ) -> list[DeliveryRecord] | None:
        async with self._connection() as conn:
            return await list_alert_deliveries(conn, user_id, alert_id)
