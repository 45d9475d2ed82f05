"""Provisioning queries for SQLite (as ``cloud.storage.postgres.provisioning``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from cloud.storage.interface import ClaimCodeInUseError, DuplicateDeviceError
from cloud.storage.records import ProvisionedDevice
from cloud.storage.sqlite.database import Transaction, from_db_time, optional_time, to_db_time


def provision_device(
    conn: sqlite3.Connection,
    device_id: str,
    code_hash: str,
    claim_expires_at: datetime,
    provisioned_by: int | None,
) -> None:
    now = to_db_time(datetime.now(UTC))
    try:
        with Transaction(conn):
            conn.execute(
                "UPDATE devices SET claim_code_hash = NULL, claim_expires_at = NULL"
                " WHERE claim_code_hash = ? AND claim_expires_at <= ?",
                (code_hash, now),
            )
            conn.execute(
                "INSERT INTO devices"
                " (device_id, created_at, claim_code_hash, claim_expires_at, provisioned_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (device_id, now, code_hash, to_db_time(claim_expires_at), provisioned_by),
            )
    except sqlite3.IntegrityError as exc:
        if "devices.device_id" in str(exc):
            raise DuplicateDeviceError(f"device {device_id} exists already") from exc
        raise ClaimCodeInUseError("another device waits for this claim code") from exc


def revoke_device(
    conn: sqlite3.Connection, device_id: str, now: datetime, installer_id: int | None
) -> bool:
    with Transaction(conn):
        cursor = conn.execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, ?),"
            " claim_code_hash = NULL, claim_expires_at = NULL"
            " WHERE device_id = ? AND (? IS NULL OR provisioned_by = ?)",
            (to_db_time(now), device_id, installer_id, installer_id),
        )
    return cursor.rowcount == 1


def list_provisioned_devices(
    conn: sqlite3.Connection, installer_id: int
) -> list[ProvisionedDevice]:
    rows = conn.execute(
        "SELECT device_id, created_at, owner_id IS NOT NULL AS claimed, revoked_at, online,"
        " last_seen FROM devices WHERE provisioned_by = ? ORDER BY created_at DESC, device_id",
        (installer_id,),
    ).fetchall()
    return [
        ProvisionedDevice(
            device_id=row["device_id"],
            created_at=from_db_time(row["created_at"]),
            claimed=bool(row["claimed"]),
            revoked_at=optional_time(row["revoked_at"]),
            online=bool(row["online"]),
            last_seen=optional_time(row["last_seen"]),
        )
        for row in rows
    ]
