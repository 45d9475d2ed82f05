"""The PostgreSQL implementation of the storage interface."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cloud.storage.emails import email_key, email_lookup_params
from cloud.storage.interface import DuplicateEmailError, PermanentStorageError, StorageError
from cloud.storage.postgres import (
    alarms,
    alerts,
    devices,
    health,
    provisioning,
    sessions,
    timeseries,
)
from cloud.storage.postgres.batch_order import BatchOrder
from cloud.storage.postgres.email_keys import fill_email_keys
from cloud.storage.postgres.ingest import (
    PRUNE_DEAD_LETTERS,
    DeviceRemovedError,
    create_staging_tables,
    ingest,
)
from cloud.storage.postgres.migrations import (
    MIGRATION_LOCK_ID,
    apply_migrations,
    bundled_migrations,
)
from cloud.storage.postgres.not_a_cry import PostgresNotACryStorage
from cloud.storage.postgres.presence import check_offline, listen_alerts, listen_readings
from cloud.storage.postgres.push_store import PostgresPushStorage
from cloud.storage.postgres.timescale import (
    TimescalePolicies,
    apply_timescale_policies,
    failed_jobs,
    hourly_aggregate_ready,
)
from cloud.storage.records import (
    AlertDelivery,
    AlertQuery,
    AlertTransition,
    AlertView,
    Caregiver,
    CryEpisode,
    DeadLetter,
    DeliveryStats,
    DeviceAudience,
    DeviceState,
    DeviceSummary,
    Gap,
    HealthRecord,
    HealthStats,
    HistoryQuery,
    IngestBatch,
    IngestResult,
    ProvisionedDevice,
    RefreshUse,
    StoredAlert,
    TelemetryRow,
    TimeBucket,
    UploadRow,
    User,
    UserCredentials,
    UserRole,
)
from cloud.storage.rule_cache import RuleStateCache

logger = logging.getLogger(__name__)

POOL_MAX_SIZE = 10
CONNECT_TIMEOUT_S = 10.0


PING_TIMEOUT_S = 2.0


def redacted_url(database_url: str) -> str:
    """``database_url`` fit for a message or a log: the password replaced by ``***``."""
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def connection_failure(database_url: str, exc: psycopg.Error) -> str:
    """One line on why the database named by ``database_url`` cannot be used, e.g.
    'database "nc_x" does not exist', naming DATABASE_URL without its password."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # libpq says 'connection to server at "h", port 5432 failed: FATAL:  database "x" does not
    # exist' (a hint may follow on the next line); the reason is what follows the last marker.
    failed = [index for index, line in enumerate(lines) if "failed:" in line]
    start = failed[-1] if failed else 0
    reason = "; ".join(lines[start:]) or type(exc).__name__
    reason = reason.rsplit("failed:", 1)[-1].split("FATAL:", 1)[-1].strip()
    return f"cannot use the database at DATABASE_URL={redacted_url(database_url)}: {reason}"


async def probe_database(database_url: str) -> None:
    """Connect once and disconnect; StorageError with a one-line reason if that fails."""
    try:
        connection = await AsyncConnection.connect(
            database_url, connect_timeout=int(CONNECT_TIMEOUT_S)
        )
    except psycopg.Error as exc:
        raise StorageError(connection_failure(database_url, exc)) from exc
    await connection.close()


def _user(row: dict[str, Any]) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        created_at=row["created_at"],
        role=row["role"],
        session_generation=row["session_generation"],
    )


class PostgresStorage(PostgresPushStorage, PostgresNotACryStorage):
    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[DictRow]],
        database_url: str,
        timescale: TimescalePolicies,
    ) -> None:
        self._pool = pool
        self._database_url = database_url
        self._timescale = timescale
        # Rule states this process committed (cloud/storage/rule_cache.py).
        self._rule_cache = RuleStateCache()
        # Overlapping ingest transactions keep batch order (cloud/storage/postgres/batch_order.py).
        self._batch_order = BatchOrder()
        # Whether the time series can read whole hours from readings_hourly (known after the
        # first migrate or time-series read).
        self._hourly_aggregate: bool | None = None

    @classmethod
    async def open(
        cls, database_url: str, timescale: TimescalePolicies | None = None
    ) -> PostgresStorage:
        # One plain connection first: a wrong DATABASE_URL (unknown database, refused password,
        # no server) fails at once with the server's reason, instead of the pool retrying in the
        # background for CONNECT_TIMEOUT_S and ending with "pool initialization incomplete".
        await probe_database(database_url)
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

    async def failed_background_jobs(self) -> list[str]:
        try:
            async with self._pool.connection() as conn:
                return await failed_jobs(conn)
        except psycopg.Error as exc:
            raise StorageError(f"cannot read the background jobs: {exc}") from exc

    async def migrate(self) -> list[str]:
        async with self._pool.connection() as conn:
            applied = await apply_migrations(conn, bundled_migrations())
            await fill_email_keys(conn)
            await apply_timescale_policies(conn, self._timescale, MIGRATION_LOCK_ID)
            self._hourly_aggregate = await hourly_aggregate_ready(conn)
        return applied

    async def create_user(
        self, email: str, password_hash: str, name: str | None, role: UserRole = "parent"
    ) -> User:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(
                    "INSERT INTO users (email, email_key, password_hash, name, role)"
                    " VALUES (%s, %s, %s, %s, %s)"
                    " RETURNING id, email, name, created_at, role, session_generation",
                    (email, email_key(email), password_hash, name, role),
                )
                row = await cursor.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateEmailError(email) from exc
        assert row is not None
        return _user(row)

    async def get_user(self, user_id: int) -> User | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, email, name, created_at, role, session_generation FROM users"
                " WHERE id = %s",
                (user_id,),
            )
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    async def get_credentials(self, email: str) -> UserCredentials | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, email, name, created_at, role, session_generation, password_hash"
                " FROM users"
                " WHERE"
                " email_key IN (%s, %s) ORDER BY email_key = %s DESC LIMIT 1",
                email_lookup_params(email),
            )
            row = await cursor.fetchone()
        return None if row is None else UserCredentials(_user(row), row["password_hash"])

    async def set_user_role(self, email: str, role: UserRole) -> User | None:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "UPDATE users SET role = %s WHERE id ="
                " (SELECT id FROM users WHERE"
                " email_key IN (%s, %s) ORDER BY email_key = %s DESC LIMIT 1)"
                " RETURNING id, email, name, created_at, role, session_generation",
                (role, *email_lookup_params(email)),
            )
            row = await cursor.fetchone()
        return None if row is None else _user(row)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[DictRow]]:
        """A pooled connection whose driver errors become StorageError (the storage errors
        raised on purpose, such as NotFoundError, pass unchanged)."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise storage_error(f"PostgreSQL: {exc}", exc) from exc

    async def register_device(self, device_id: str, owner_id: int | None) -> None:
        async with self._connection() as conn:
            await devices.register_device(conn, device_id, owner_id)

    async def ingest(self, batch: IngestBatch) -> IngestResult:
        # Taken before the first await: batch order is the order of these calls.
        turn = self._batch_order.next_turn()
        try:
            async with self._pool.connection() as conn:
                return await ingest(conn, batch, self._rule_cache, turn)
        except (psycopg.Error, DeviceRemovedError) as exc:
            message = f"storing a batch of {len(batch)} messages failed: {exc}"
            raise storage_error(message, exc) from exc
        finally:
            turn.finish()

    async def check_offline(self, now: datetime) -> list[StoredAlert]:
        try:
            async with self._pool.connection() as conn:
                return await check_offline(conn, now, self._rule_cache)
        except psycopg.Error as exc:
            raise StorageError(f"offline check failed: {exc}") from exc

    def listen_alerts(self) -> AsyncIterator[StoredAlert]:
        return listen_alerts(self._database_url)

    def listen_readings(self) -> AsyncIterator[TelemetryRow]:
        return listen_readings(self._database_url)

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
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT topic, payload, error, received_at, payload_size AS size,"
                " payload_sha256 AS sha256 FROM dead_letters ORDER BY id DESC LIMIT %s",
                (limit,),
            )
            return [DeadLetter(**row) for row in await cursor.fetchall()]

    async def prune_dead_letters(self, received_before: datetime, keep_rows: int) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(PRUNE_DEAD_LETTERS, (received_before, keep_rows))
            return cursor.rowcount

    async def list_alerts(self, device_id: str, limit: int = 100) -> list[StoredAlert]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                f"SELECT {alarms.ALERT_COLUMNS} FROM alerts WHERE device_id = %s"  # noqa: S608 - fixed columns
                " ORDER BY id DESC LIMIT %s",
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
            if self._hourly_aggregate is None:
                self._hourly_aggregate = await hourly_aggregate_ready(conn)
            return await timeseries.health_timeseries(
                conn, user_id, bucket, start, end, self._hourly_aggregate
            )

    # --- claiming and sharing devices ---
    async def provision_device(
        self,
        device_id: str,
        code_hash: str,
        claim_expires_at: datetime,
        provisioned_by: int | None,
    ) -> None:
        async with self._connection() as conn:
            await provisioning.provision_device(
                conn, device_id, code_hash, claim_expires_at, provisioned_by
            )

    async def revoke_device(self, device_id: str, now: datetime, installer_id: int | None) -> bool:
        async with self._connection() as conn:
            return await provisioning.revoke_device(conn, device_id, now, installer_id)

    async def list_provisioned_devices(self, installer_id: int) -> list[ProvisionedDevice]:
        async with self._connection() as conn:
            return await provisioning.list_provisioned_devices(conn, installer_id)

    async def set_claim_code(self, device_id: str, code_hash: str, expires_at: datetime) -> None:
        async with self._connection() as conn:
            await devices.set_claim_code(conn, device_id, code_hash, expires_at)

    async def claim_device(
        self, user_id: int, code_hash: str, now: datetime, name: str | None
    ) -> DeviceSummary | None:
        async with self._connection() as conn:
            return await devices.claim_device(conn, user_id, code_hash, now, name)

    async def list_devices(self, user_id: int) -> list[DeviceSummary]:
        async with self._connection() as conn:
            return await devices.list_devices(conn, user_id)

    async def get_device(self, user_id: int, device_id: str) -> DeviceSummary | None:
        async with self._connection() as conn:
            return await devices.get_device(conn, user_id, device_id)

    async def rename_device(self, user_id: int, device_id: str, name: str | None) -> DeviceSummary:
        async with self._connection() as conn:
            return await devices.rename_device(conn, user_id, device_id, name)

    async def update_device_settings(
        self,
        user_id: int,
        device_id: str,
        nursery: dict[str, object] | None,
        device: dict[str, object] | None,
    ) -> DeviceSummary:
        async with self._connection() as conn:
            return await devices.update_device_settings(conn, user_id, device_id, nursery, device)

    async def unclaim_device(self, user_id: int, device_id: str) -> None:
        async with self._connection() as conn:
            await devices.unclaim_device(conn, user_id, device_id)

    async def list_caregivers(self, user_id: int, device_id: str) -> list[Caregiver]:
        async with self._connection() as conn:
            return await devices.list_caregivers(conn, user_id, device_id)

    async def add_caregiver(self, owner_id: int, device_id: str, email: str) -> Caregiver:
        async with self._connection() as conn:
            return await devices.add_caregiver(conn, owner_id, device_id, email)

    async def remove_caregiver(self, user_id: int, device_id: str, member_id: int) -> None:
        async with self._connection() as conn:
            await devices.remove_caregiver(conn, user_id, device_id, member_id)

    async def list_cry_episodes(
        self,
        user_id: int,
        device_id: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[CryEpisode]:
        async with self._connection() as conn:
            return await devices.list_cry_episodes(conn, user_id, device_id, start, end, limit)

    # --- alerts as each user sees them ---
    async def list_user_alerts(self, user_id: int, query: AlertQuery) -> list[AlertView]:
        async with self._connection() as conn:
            return await alerts.list_user_alerts(conn, user_id, query)

    async def count_unread_alerts(self, user_id: int) -> int:
        async with self._connection() as conn:
            return await alerts.count_unread_alerts(conn, user_id)

    async def mark_alerts_read(
        self, user_id: int, alert_ids: list[int] | None, now: datetime
    ) -> int:
        async with self._connection() as conn:
            return await alerts.mark_alerts_read(conn, user_id, alert_ids, now)

    async def acknowledge_alert(
        self, user_id: int, alert_id: int, now: datetime
    ) -> StoredAlert | None:
        async with self._connection() as conn:
            return await alarms.acknowledge_alert(conn, user_id, alert_id, now)

    async def escalate_due(self, now: datetime) -> list[StoredAlert]:
        async with self._connection() as conn:
            return await alarms.escalate_due(conn, now)

    async def record_deliveries(self, deliveries: list[AlertDelivery]) -> None:
        async with self._connection() as conn:
            await alarms.record_deliveries(conn, deliveries)

    async def delivery_stats(
        self, user_id: int, device_id: str, since: datetime
    ) -> DeliveryStats | None:
        async with self._connection() as conn:
            return await alarms.delivery_stats(conn, user_id, device_id, since)

    async def list_alert_transitions(
        self, user_id: int, alert_id: int
    ) -> list[AlertTransition] | None:
        async with self._connection() as conn:
            return await alarms.list_transitions(conn, user_id, alert_id)

    async def list_gaps(
        self,
        user_id: int,
        device_id: str | None,
        start: datetime | None,
        end: datetime | None,
        include_closed: bool = False,
    ) -> list[Gap]:
        async with self._connection() as conn:
            return await alarms.list_gaps(conn, user_id, device_id, start, end, include_closed)

    async def alert_recipients(self, alert: StoredAlert) -> list[int]:
        async with self._connection() as conn:
            return await alerts.alert_recipients(conn, alert)

    async def device_member_ids(self, device_id: str) -> list[int]:
        async with self._connection() as conn:
            return await alerts.device_member_ids(conn, device_id)

    async def device_audience(self, device_id: str) -> DeviceAudience:
        async with self._connection() as conn:
            return await alerts.device_audience(conn, device_id)

    # --- refresh tokens ---
    async def store_refresh_token(
        self,
        token_id: str,
        user_id: int,
        family_id: str,
        issued_at: datetime,
        expires_at: datetime,
        generation: int,
    ) -> bool:
        async with self._connection() as conn:
            return await sessions.store_refresh_token(
                conn, token_id, user_id, family_id, issued_at, expires_at, generation
            )

    async def use_refresh_token(
        self, token_id: str, now: datetime
    ) -> tuple[RefreshUse, int | None]:
        async with self._connection() as conn:
            return await sessions.use_refresh_token(conn, token_id, now)

    async def revoke_refresh_family(self, family_id: str, now: datetime) -> None:
        async with self._connection() as conn:
            await sessions.revoke_refresh_family(conn, family_id, now)

    async def revoke_user_refresh_tokens(self, user_id: int, now: datetime) -> int:
        async with self._connection() as conn:
            return await sessions.revoke_user_refresh_tokens(conn, user_id, now)

    async def end_sessions(
        self, user_id: int, now: datetime, password_hash: str | None = None
    ) -> int | None:
        async with self._connection() as conn:
            return await sessions.end_sessions(conn, user_id, now, password_hash)

    async def session_generations(self, user_ids: list[int]) -> dict[int, int]:
        async with self._connection() as conn:
            return await sessions.session_generations(conn, user_ids)


def storage_error(message: str, exc: Exception) -> StorageError:
    """The storage error for a driver error: permanent for a data exception (SQLSTATE class
    22) or a broken constraint (class 23), which the same rows raise every time; anything
    else - a lost connection (08), a serialization failure or deadlock (40), too little
    memory or disk (53), an administrator's shutdown (57), a device removed meanwhile - may
    pass when tried again, and the database being down must never make a message a dead
    letter."""
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return PermanentStorageError(message)
    return StorageError(message)
