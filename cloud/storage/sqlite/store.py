"""The SQLite implementation of the storage interface."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloud.storage.alert_hub import AlertHub
from cloud.storage.emails import email_key, email_lookup_params
from cloud.storage.interface import DuplicateEmailError
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
from cloud.storage.sqlite import alarms, alerts, devices, health, provisioning, sessions
from cloud.storage.sqlite import ingest as sqlite_ingest
from cloud.storage.sqlite.database import (
    SqliteDatabase,
    Transaction,
    from_db_time,
    optional_time,
    path_from_url,
    to_db_time,
)
from cloud.storage.sqlite.email_keys import fill_email_keys
from cloud.storage.sqlite.migrations import apply_migrations
from cloud.storage.sqlite.not_a_cry import SqliteNotACryStorage
from cloud.storage.sqlite.push_store import SqlitePushStorage


def _user(row: sqlite3.Row) -> User:
    return User(
        row["id"],
        row["email"],
        row["name"],
        from_db_time(row["created_at"]),
        row["role"],
        row["session_generation"],
    )


class SqliteStorage(SqlitePushStorage, SqliteNotACryStorage):
    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database
        self._alerts: AlertHub[StoredAlert] = AlertHub()
        self._readings: AlertHub[TelemetryRow] = AlertHub()

    @classmethod
    async def open(cls, path: Path) -> SqliteStorage:
        database = SqliteDatabase(path)
        await database.open()
        return cls(database)

    @classmethod
    async def open_url(cls, database_url: str) -> SqliteStorage:
        return await cls.open(path_from_url(database_url))

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> bool:
        try:
            await self._db.run(lambda conn: conn.execute("SELECT 1").fetchone())
        except sqlite3.Error:
            return False
        return True

    async def failed_background_jobs(self) -> list[str]:
        return []  # SQLite runs no jobs of its own

    async def migrate(self) -> list[str]:
        def migrate(conn: sqlite3.Connection) -> list[str]:
            applied = apply_migrations(conn)
            fill_email_keys(conn)
            return applied

        return await self._db.run(migrate)

    async def create_user(
        self, email: str, password_hash: str, name: str | None, role: UserRole = "parent"
    ) -> User:
        def insert(conn: sqlite3.Connection) -> User:
            try:
                with Transaction(conn):
                    row = conn.execute(
                        "INSERT INTO users"
                        " (email, email_key, password_hash, name, created_at, role)"
                        " VALUES (?, ?, ?, ?, ?, ?)"
                        " RETURNING id, email, name, created_at, role, session_generation",
                        (
                            email,
                            email_key(email),
                            password_hash,
                            name,
                            to_db_time(datetime.now(UTC)),
                            role,
                        ),
                    ).fetchone()
            except sqlite3.IntegrityError as exc:
                raise DuplicateEmailError(email) from exc
            return _user(row)

        return await self._db.run(insert)

    async def get_user(self, user_id: int) -> User | None:
        def select(conn: sqlite3.Connection) -> User | None:
            row = conn.execute(
                "SELECT id, email, name, created_at, role, session_generation FROM users"
                " WHERE id = ?",
                (user_id,),
            ).fetchone()
            return None if row is None else _user(row)

        return await self._db.run(select)

    async def get_credentials(self, email: str) -> UserCredentials | None:
        def select(conn: sqlite3.Connection) -> UserCredentials | None:
            row = conn.execute(
                "SELECT id, email, name, created_at, role, session_generation, password_hash"
                " FROM users"
                " WHERE"
                " email_key IN (?, ?) ORDER BY email_key = ? DESC LIMIT 1",
                email_lookup_params(email),
            ).fetchone()
            return None if row is None else UserCredentials(_user(row), row["password_hash"])

        return await self._db.run(select)

    async def register_device(self, device_id: str, owner_id: int | None) -> None:
        await self._db.run(lambda conn: devices.register_device(conn, device_id, owner_id))

    async def set_device_settings(self, device_id: str, settings: dict[str, float]) -> None:
        def update(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE devices SET settings = ? WHERE device_id = ?",
                (json.dumps(settings), device_id),
            )

        await self._db.run(update)

    async def get_device_state(self, device_id: str) -> DeviceState | None:
        def select(conn: sqlite3.Connection) -> DeviceState | None:
            row = conn.execute(
                "SELECT device_id, owner_id, name, online, last_seen, firmware_version,"
                " model_version, max_seq, clock_offset_s, clock_drift FROM devices"
                " WHERE device_id = ?",
                (device_id,),
            ).fetchone()
            if row is None:
                return None
            return DeviceState(
                row["device_id"], row["owner_id"], row["name"], bool(row["online"]),
                optional_time(row["last_seen"]), row["firmware_version"], row["model_version"],
                row["max_seq"], row["clock_offset_s"], bool(row["clock_drift"]),
            )  # fmt: skip

        return await self._db.run(select)

    async def ingest(self, batch: IngestBatch) -> IngestResult:
        result = await self._db.run(lambda conn: sqlite_ingest.ingest(conn, batch))
        self._alerts.publish(result.alerts)  # after the commit, as with PostgreSQL NOTIFY
        self._readings.publish(result.latest_readings)
        return result

    async def check_offline(self, now: datetime) -> list[StoredAlert]:
        alerts = await self._db.run(lambda conn: sqlite_ingest.check_offline(conn, now))
        self._alerts.publish(alerts)
        return alerts

    def listen_alerts(self) -> AsyncIterator[StoredAlert]:
        return self._alerts.subscribe()

    def listen_readings(self) -> AsyncIterator[TelemetryRow]:
        return self._readings.subscribe()

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        def select(conn: sqlite3.Connection) -> list[DeadLetter]:
            rows = conn.execute(
                "SELECT topic, payload, error, received_at, payload_size, payload_sha256"
                " FROM dead_letters ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            return [
                DeadLetter(
                    r["topic"], r["payload"], r["error"], from_db_time(r["received_at"]),
                    r["payload_size"], r["payload_sha256"],
                )
                for r in rows
            ]  # fmt: skip

        return await self._db.run(select)

    async def prune_dead_letters(self, received_before: datetime, keep_rows: int) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            with Transaction(conn):
                return conn.execute(
                    "DELETE FROM dead_letters WHERE received_at < ? OR id <= (SELECT id"
                    " FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (to_db_time(received_before), keep_rows),
                ).rowcount

        return await self._db.run(delete)

    async def list_alerts(self, device_id: str, limit: int = 100) -> list[StoredAlert]:
        def select(conn: sqlite3.Connection) -> list[StoredAlert]:
            rows = conn.execute(
                "SELECT * FROM alerts WHERE device_id = ? ORDER BY id DESC LIMIT ?",
                (device_id, limit),
            )
            return [alarms.stored_alert(row) for row in rows]

        return await self._db.run(select)

    async def list_health_records(self, user_id: int, query: HistoryQuery) -> list[HealthRecord]:
        return await self._db.run(lambda conn: health.list_health_records(conn, user_id, query))

    async def get_health_record(self, user_id: int, record_id: int) -> HealthRecord | None:
        return await self._db.run(lambda conn: health.get_health_record(conn, user_id, record_id))

    async def add_upload(self, upload: UploadRow) -> tuple[HealthRecord, StoredAlert | None]:
        record, alert = await self._db.run(lambda conn: health.add_upload(conn, upload))
        if alert is not None:
            self._alerts.publish([alert])  # after the commit, as with PostgreSQL NOTIFY
        return record, alert

    async def health_stats(self, user_id: int) -> HealthStats:
        return await self._db.run(lambda conn: health.health_stats(conn, user_id))

    async def health_timeseries(
        self, user_id: int, bucket: timedelta, start: datetime, end: datetime
    ) -> list[TimeBucket]:
        return await self._db.run(
            lambda conn: health.health_timeseries(conn, user_id, bucket, start, end)
        )

    # --- claiming and sharing devices ---
    async def set_user_role(self, email: str, role: UserRole) -> User | None:
        def update(conn: sqlite3.Connection) -> User | None:
            with Transaction(conn):
                row = conn.execute(
                    "UPDATE users SET role = ? WHERE id ="
                    " (SELECT id FROM users WHERE"
                    " email_key IN (?, ?) ORDER BY email_key = ? DESC LIMIT 1)"
                    " RETURNING id, email, name, created_at, role, session_generation",
                    (role, *email_lookup_params(email)),
                ).fetchone()
            return None if row is None else _user(row)

        return await self._db.run(update)

    async def provision_device(
        self,
        device_id: str,
        code_hash: str,
        claim_expires_at: datetime,
        provisioned_by: int | None,
    ) -> None:
        await self._db.run(
            lambda conn: provisioning.provision_device(
                conn, device_id, code_hash, claim_expires_at, provisioned_by
            )
        )

    async def revoke_device(self, device_id: str, now: datetime, installer_id: int | None) -> bool:
        return await self._db.run(
            lambda conn: provisioning.revoke_device(conn, device_id, now, installer_id)
        )

    async def list_provisioned_devices(self, installer_id: int) -> list[ProvisionedDevice]:
        return await self._db.run(
            lambda conn: provisioning.list_provisioned_devices(conn, installer_id)
        )

    async def set_claim_code(self, device_id: str, code_hash: str, expires_at: datetime) -> None:
        await self._db.run(
            lambda conn: devices.set_claim_code(conn, device_id, code_hash, expires_at)
        )

    async def claim_device(
        self, user_id: int, code_hash: str, now: datetime, name: str | None
    ) -> DeviceSummary | None:
        return await self._db.run(
            lambda conn: devices.claim_device(conn, user_id, code_hash, now, name)
        )

    async def list_devices(self, user_id: int) -> list[DeviceSummary]:
        return await self._db.run(lambda conn: devices.list_devices(conn, user_id))

    async def get_device(self, user_id: int, device_id: str) -> DeviceSummary | None:
        return await self._db.run(lambda conn: devices.get_device(conn, user_id, device_id))

    async def rename_device(self, user_id: int, device_id: str, name: str | None) -> DeviceSummary:
        return await self._db.run(
            lambda conn: devices.rename_device(conn, user_id, device_id, name)
        )

    async def update_device_settings(
        self,
        user_id: int,
        device_id: str,
        nursery: dict[str, object] | None,
        device: dict[str, object] | None,
    ) -> DeviceSummary:
        return await self._db.run(
            lambda conn: devices.update_device_settings(conn, user_id, device_id, nursery, device)
        )

    async def unclaim_device(self, user_id: int, device_id: str) -> None:
        await self._db.run(lambda conn: devices.unclaim_device(conn, user_id, device_id))

    async def list_caregivers(self, user_id: int, device_id: str) -> list[Caregiver]:
        return await self._db.run(lambda conn: devices.list_caregivers(conn, user_id, device_id))

    async def add_caregiver(self, owner_id: int, device_id: str, email: str) -> Caregiver:
        return await self._db.run(
            lambda conn: devices.add_caregiver(conn, owner_id, device_id, email)
        )

    async def remove_caregiver(self, user_id: int, device_id: str, member_id: int) -> None:
        await self._db.run(
            lambda conn: devices.remove_caregiver(conn, user_id, device_id, member_id)
        )

    async def list_cry_episodes(
        self,
        user_id: int,
        device_id: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[CryEpisode]:
        return await self._db.run(
            lambda conn: devices.list_cry_episodes(conn, user_id, device_id, start, end, limit)
        )

    # --- alerts as each user sees them ---
    async def list_user_alerts(self, user_id: int, query: AlertQuery) -> list[AlertView]:
        return await self._db.run(lambda conn: alerts.list_user_alerts(conn, user_id, query))

    async def count_unread_alerts(self, user_id: int) -> int:
        return await self._db.run(lambda conn: alerts.count_unread_alerts(conn, user_id))

    async def mark_alerts_read(
        self, user_id: int, alert_ids: list[int] | None, now: datetime
    ) -> int:
        return await self._db.run(
            lambda conn: alerts.mark_alerts_read(conn, user_id, alert_ids, now)
        )

    async def acknowledge_alert(
        self, user_id: int, alert_id: int, now: datetime
    ) -> StoredAlert | None:
        alert = await self._db.run(
            lambda conn: alarms.acknowledge_alert(conn, user_id, alert_id, now)
        )
        if alert is not None and alert.announcement == "acknowledged":
            self._alerts.publish([alert])  # after the commit, as with PostgreSQL NOTIFY
        return alert

    async def escalate_due(self, now: datetime) -> list[StoredAlert]:
        escalated = await self._db.run(lambda conn: alarms.escalate_due(conn, now))
        self._alerts.publish(escalated)
        return escalated

    async def record_deliveries(self, deliveries: list[AlertDelivery]) -> None:
        await self._db.run(lambda conn: alarms.record_deliveries(conn, deliveries))

    async def delivery_stats(
        self, user_id: int, device_id: str, since: datetime
    ) -> DeliveryStats | None:
        return await self._db.run(
            lambda conn: alarms.delivery_stats(conn, user_id, device_id, since)
        )

    async def list_alert_transitions(
        self, user_id: int, alert_id: int
    ) -> list[AlertTransition] | None:
        return await self._db.run(lambda conn: alarms.list_transitions(conn, user_id, alert_id))

    async def list_gaps(
        self,
        user_id: int,
        device_id: str | None,
        start: datetime | None,
        end: datetime | None,
        include_closed: bool = False,
    ) -> list[Gap]:
        return await self._db.run(
            lambda conn: alarms.list_gaps(conn, user_id, device_id, start, end, include_closed)
        )

    async def alert_recipients(self, alert: StoredAlert) -> list[int]:
        return await self._db.run(lambda conn: alerts.alert_recipients(conn, alert))

    async def device_member_ids(self, device_id: str) -> list[int]:
        return await self._db.run(lambda conn: alerts.device_member_ids(conn, device_id))

    async def device_audience(self, device_id: str) -> DeviceAudience:
        return await self._db.run(lambda conn: alerts.device_audience(conn, device_id))

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
        return await self._db.run(
            lambda conn: sessions.store_refresh_token(
                conn, token_id, user_id, family_id, issued_at, expires_at, generation
            )
        )

    async def use_refresh_token(
        self, token_id: str, now: datetime
    ) -> tuple[RefreshUse, int | None]:
        return await self._db.run(lambda conn: sessions.use_refresh_token(conn, token_id, now))

    async def revoke_refresh_family(self, family_id: str, now: datetime) -> None:
        await self._db.run(lambda conn: sessions.revoke_refresh_family(conn, family_id, now))

    async def revoke_user_refresh_tokens(self, user_id: int, now: datetime) -> int:
        return await self._db.run(
            lambda conn: sessions.revoke_user_refresh_tokens(conn, user_id, now)
        )

    async def end_sessions(
        self, user_id: int, now: datetime, password_hash: str | None = None
    ) -> int | None:
        return await self._db.run(
            lambda conn: sessions.end_sessions(conn, user_id, now, password_hash)
        )

    async def session_generations(self, user_ids: list[int]) -> dict[int, int]:
        return await self._db.run(lambda conn: sessions.session_generations(conn, user_ids))
