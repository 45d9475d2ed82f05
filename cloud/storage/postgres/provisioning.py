"""Provisioning queries for PostgreSQL: installers create devices, revoke them, list them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from cloud.storage.interface import ClaimCodeInUseError, DuplicateDeviceError
from cloud.storage.records import ProvisionedDevice


async def provision_device(
    conn: AsyncConnection[Any],
    device_id: str,
    code_hash: str,
    claim_expires_at: datetime,
    provisioned_by: int | None,
) -> None:
    try:
        async with conn.transaction():
            # An expired code of another device no longer needs its hash.
            await conn.execute(
                "UPDATE devices SET claim_code_hash = NULL, claim_expires_at = NULL"
                " WHERE claim_code_hash = %s AND claim_expires_at <= now()",
                (code_hash,),
            )
            await conn.execute(
                "INSERT INTO devices"
                " (device_id, claim_code_hash, claim_expires_at, provisioned_by)"
                " VALUES (%s, %s, %s, %s)",
                (device_id, code_hash, claim_expires_at, provisioned_by),
            )
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "devices_pkey":
            raise DuplicateDeviceError(f"device {device_id} exists already") from exc
        raise ClaimCodeInUseError("another device waits for this claim code") from exc


async def revoke_device(
    conn: AsyncConnection[Any], device_id: str, now: datetime, installer_id: int | None
) -> bool:
    cursor = await conn.execute(
        "UPDATE devices SET revoked_at = coalesce(revoked_at, %(now)s),"
        " claim_code_hash = NULL, claim_expires_at = NULL"
        " WHERE device_id = %(device_id)s"
        " AND (%(installer)s::bigint IS NULL OR provisioned_by = %(installer)s)",
        {"now": now, "device_id": device_id, "installer": installer_id},
    )
    return cursor.rowcount == 1


async def list_provisioned_devices(
    conn: AsyncConnection[Any], installer_id: int
) -> list[ProvisionedDevice]:
    cursor = await conn.execute(
        "SELECT device_id, created_at, owner_id IS NOT NULL AS claimed, revoked_at, online,"
        " last_seen FROM devices WHERE provisioned_by = %s ORDER BY created_at DESC, device_id",
        (installer_id,),
    )
    return [
        ProvisionedDevice(
            device_id=row["device_id"],
            created_at=row["created_at"],
            claimed=row["claimed"],
            revoked_at=row["revoked_at"],
            online=row["online"],
            last_seen=row["last_seen"],
        )
        for row in await cursor.fetchall()
    ]
