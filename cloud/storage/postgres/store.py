"""The PostgreSQL implementation of the storage interface."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cloud.storage.interface import DuplicateEmailError, StorageError
from cloud.storage.postgres import health
from cloud.storage.postgres.ingest import create_staging_tables, ingest
from cloud.storage.postgres.migrations import (
    TimescalePolicies,
    apply_migrations,
    apply_timescale_policies,
    bundled_migrations,
)
from cloud.storage.postgres.presence import check_offline, listen_alerts
from cloud.storage.records import (
    DeadLetter,
    DeviceState,
    HealthRecord,
    HealthStats,
    HistoryQuery,
    IngestBatch,
    IngestResult,
    StoredAlert,
    TimeBucket,
    UploadRow,
    User,
    UserCredentials,
)

logger = logging.getLogger(__name__)

POOL_MAX_SIZE = 10
CONNECT_TIMEOUT_S = 10.0


PING_TIMEOUT_S = 2.0


def _user(row: dict[str, Any]) -> User:
    return User(id=row["id"], email=row["email"], name=row["name"], created_at=row["created_at"])


class PostgresStorage:
    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[DictRow]],
        database_url: str,
        timescale: TimescalePolicies,
    ) -> None:
        self._pool = pool
        self._database_url = database_url
        self._timescale = timescale

    @classmethod
    async def open(
        cls, database_url: str, timescale: TimescalePolicies | None = None
    ) -> PostgresStorage:
        pool = AsyncConnectionPool(
            database_url,
            connection_class=AsyncConnection[DictRow],
            min_size=1,
            max_size=POOL_MAX_SIZE,
            open=False,
            kwargs={"row_factory": dict_row},
            # A connection broken by a database restart is noticed and replaced before use.
            check=AsyncConnectionPool.check_connection,
            configure=create_staging_tables,
            timeout=CONNECT_TIMEOUT_S,
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:
            await pool.close()
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        return cls(pool, database_url, timescale or TimescalePolicies())

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> bool:
        try:
            async with self._pool.connection(timeout=PING_TIMEOUT_S) as conn:
                await conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout):
            return False
        return True

    async def migrate(self) -> list[str]:
        async with self._pool.connection() as conn:
            applied = await apply_migrations(conn, bundled_migrations())
            await apply_timescale_policies(conn, self._timescale)
        return applied

    async def create_user(self, email: str, password_hash: str, name: str | None) -> User:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(
                    "INSERT INTO users (email, password_hash, name) VALUES (%s, %s, %s)"
                    " RETURNING id, email, name, created_at",
                    (email, password_hash, name),
                )
                row = await cursor.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateEmailError(email) from exc
        assert row is not None
        return _user(row)

    async def get_user(self, user_id: int) -> User | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, email, name, created_at FROM users WHERE id = %s", (user_id,)
            )
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    async def get_credentials(self, email: str) -> UserCredentials | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, email, name, created_at, password_hash FROM users"
                " WHERE lower(email) = lower(%s)",
                (email,),
            )
            row = await cursor.fetchone()
        return None if row is None else UserCredentials(_user(row), row["password_hash"])

    async def register_device(self, device_id: str, owner_id: int | None) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO devices (device_id, owner_id) VALUES (%s, %s)"
                " ON CONFLICT (device_id) DO UPDATE SET owner_id = EXCLUDED.owner_id",
                (device_id, owner_id),
            )

    async def ingest(self, batch: IngestBatch) -> IngestResult:
        try:
            async with self._pool.connection() as conn:
                return await ingest(conn, batch)
        except psycopg.Error as exc:
            raise StorageError(f"storing a batch of {len(batch)} messages failed: {exc}") from exc

    async def check_offline(self, now: datetime) -> list[StoredAlert]:
        try:
            async with self._pool.connection() as conn:
                return await check_offline(conn, now)
        except psycopg.Error as exc:
            raise StorageError(f"offline check failed: {exc}") from exc

    def listen_alerts(self) -> AsyncIterator[StoredAlert]:
        return listen_alerts(self._database_url)

    async def set_device_settings(self, device_id: str, settings: dict[str, float]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE devices SET settings = %s WHERE device_id = %s",
                (Jsonb(settings), device_id),
            )

    async def get_device_state(self, device_id: str) -> DeviceState | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT device_id, owner_id, name, online, last_seen, firmware_version,"
                " model_version, max_seq, clock_offset_s, clock_drift FROM devices"
                " WHERE device_id = %s",
                (device_id,),
            )
            row = await cursor.fetchone()
        return None if row is None else DeviceState(**row)

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT topic, payload, error, received_at FROM dead_letters"
                " ORDER BY id DESC LIMIT %s",
                (limit,),
            )
            return [DeadLetter(**row) for row in await cursor.fetchall()]

    async def list_alerts(self, device_id: str, limit: int = 100) -> list[StoredAlert]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, device_id, user_id, kind, time, created_at, message, sick_detected,"
                " details FROM alerts WHERE device_id = %s ORDER BY id DESC LIMIT %s",
                (device_id, limit),
            )
            return [StoredAlert(**row) for row in await cursor.fetchall()]

    async def list_health_records(self, user_id: int, query: HistoryQuery) -> list[HealthRecord]:
        async with self._pool.connection() as conn:
            return await health.list_health_records(conn, user_id, query)

    async def get_health_record(self, user_id: int, record_id: int) -> HealthRecord | None:
        async with self._pool.connection() as conn:
            return await health.get_health_record(conn, user_id, record_id)

    async def add_upload(self, upload: UploadRow) -> tuple[HealthRecord, StoredAlert | None]:
        try:
            async with self._pool.connection() as conn:
                return await health.add_upload(conn, upload)
        except psycopg.Error as exc:
            raise StorageError(f"storing an upload of user {upload.user_id} failed: {exc}") from exc

    async def health_stats(self, user_id: int) -> HealthStats:
        async with self._pool.connection() as conn:
            return await health.health_stats(conn, user_id)

    async def health_timeseries(
        self, user_id: int, bucket: timedelta, start: datetime, end: datetime
    ) -> list[TimeBucket]:
        async with self._pool.connection() as conn:
            return await health.health_timeseries(conn, user_id, bucket, start, end)
