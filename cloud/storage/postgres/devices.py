"""Devices on PostgreSQL: registering, claim codes, members' views and the owner's changes.

Every change by a member runs in one transaction that first locks the device row (``FOR
UPDATE OF d``) while reading the caller's role, so a rename, settings change, share or unclaim
never acts on a role that a concurrent unclaim has just taken away.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from cloud.storage.claim_plan import period_start_after_change
from cloud.storage.emails import email_lookup_params
from cloud.storage.heard import heard_from_stored
from cloud.storage.interface import ClaimCodeInUseError, NotFoundError
from cloud.storage.not_a_cry_plan import ignored_from_stored
from cloud.storage.postgres.ignore_lists import load_ignore_lists, reset_ignore_list
from cloud.storage.records import Caregiver, CryEpisode, DeviceSummary, MemberRole, NotACryMark
from cloud.storage.sharing_plan import (
    MEMBER_ORDER,
    OWNER,
    SUMMARY_COLUMNS,
    check_removal,
    device_order,
    require_member,
    require_owner,
)

# What the device last reported on config/reported (the collector keeps the latest revision).
_REPORTED_COLUMNS = (
    "d.reported_revision, d.reported_accepted, d.reported_error, d.reported_at, d.reported_settings"
)

_SUMMARIES = f"""
SELECT {SUMMARY_COLUMNS}, {_REPORTED_COLUMNS}
FROM device_members m JOIN devices d ON d.device_id = m.device_id
WHERE m.user_id = %(user_id)s
"""  # noqa: S608 - a constant

_ROLE = """
SELECT m.role FROM devices d
JOIN device_members m ON m.device_id = d.device_id AND m.user_id = %s
WHERE d.device_id = %s
"""

_MEMBERS = f"""
SELECT u.id AS user_id, u.email, u.name, m.role, m.added_at
FROM device_members m JOIN users u ON u.id = m.user_id
WHERE m.device_id = %(device_id)s AND (%(user_id)s::bigint IS NULL OR m.user_id = %(user_id)s)
ORDER BY {MEMBER_ORDER}
"""  # noqa: S608 - a constant

# A claim opens a new period (cloud.storage.claim_plan.claim_period_start; GREATEST skips NULL).
_CLAIM = """
UPDATE devices SET owner_id = %(user_id)s, name = %(name)s, claimed_at = %(now)s,
       claim_code_hash = NULL, claim_expires_at = NULL,
       history_from = GREATEST(history_from, %(now)s)
WHERE claim_code_hash = %(code_hash)s AND claim_expires_at > %(now)s AND owner_id IS NULL
      AND revoked_at IS NULL
RETURNING device_id
"""

_UPDATE_SETTINGS = """
UPDATE devices SET
    settings = coalesce(%(nursery)s::jsonb, settings),
    device_settings = coalesce(%(device)s::jsonb, device_settings),
    device_settings_revision = device_settings_revision
        + CASE WHEN %(device)s::jsonb IS NULL THEN 0 ELSE 1 END
WHERE device_id = %(device_id)s
"""

# Forgets everything the owner set; the revision still rises (the device is told "defaults"
# with a revision it has never seen); the release ends the period (it has no members left to
# see anything), and no later period may start before it.
_UNCLAIM = """
UPDATE devices SET owner_id = NULL, name = NULL, claimed_at = NULL, claim_code_hash = NULL,
       claim_expires_at = NULL, settings = '{}'::jsonb, device_settings = '{}'::jsonb,
       device_settings_revision = device_settings_revision + 1, history_from = now()
WHERE device_id = %s
"""

# Each start with its first end (by the device's episode id); only episodes started in the
# current claim period (cloud.storage.claim_plan), as the rest of the device's history.
_EPISODES = """
SELECT s.device_id, s.episode_id, s.time AS started_at, e.time AS ended_at,
       coalesce(e.confidence, s.confidence) AS confidence, e.duration_s,
       coalesce(e.sound_dbfs, s.sound_dbfs) AS sound_dbfs, e.end_reason,
       coalesce(e.heard, s.heard) AS heard, s.ignored,
       nm.marked_at, nm.marked_by, u.name AS marked_by_name
FROM devices d
JOIN events s ON s.device_id = d.device_id AND s.kind = 'cry_started'
LEFT JOIN events e ON e.device_id = s.device_id AND e.id = (
    SELECT x.id FROM events x
    WHERE x.device_id = s.device_id AND x.episode_id = s.episode_id AND x.kind = 'cry_ended'
    ORDER BY x.time, x.seq LIMIT 1
)
-- A mark is on the first episode of the period with its id (not_a_cry_plan.require_one_episode:
-- the only one when it was marked), not on a later one of a device whose ids started again.
LEFT JOIN not_a_cry_marks nm ON nm.device_id = s.device_id AND nm.episode_id = s.episode_id
    AND NOT EXISTS (
        SELECT 1 FROM events o
        WHERE o.device_id = s.device_id AND o.kind = 'cry_started' AND o.episode_id = s.episode_id
          AND o.time >= coalesce(d.history_from, '-infinity')
          AND o.received_at >= coalesce(d.history_from, '-infinity')
          AND (o.received_at, o.id) < (s.received_at, s.id)
    )
LEFT JOIN users u ON u.id = nm.marked_by
WHERE d.device_id = %(device_id)s
  AND s.time >= coalesce(d.history_from, '-infinity')
  AND s.received_at >= coalesce(d.history_from, '-infinity')
  AND (%(start)s::timestamptz IS NULL OR s.time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR s.time <= %(end)s)
ORDER BY s.time DESC, s.seq DESC
LIMIT %(limit)s
"""


def _summary(row: dict[str, Any]) -> DeviceSummary:
    return DeviceSummary(**row)


async def _with_ignore_lists(
    conn: AsyncConnection[Any], summaries: list[DeviceSummary]
) -> list[DeviceSummary]:
    lists = await load_ignore_lists(conn, [device.device_id for device in summaries])
    return [replace(device, ignore_list=lists.get(device.device_id)) for device in summaries]


def _episode(row: dict[str, Any]) -> CryEpisode:
    mark = None
    if row["marked_at"] is not None:
        mark = NotACryMark(
            row["device_id"], row["episode_id"], row["marked_at"], row["marked_by"],
            row["marked_by_name"],
        )  # fmt: skip
    return CryEpisode(
        device_id=row["device_id"],
        episode_id=row["episode_id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        confidence=row["confidence"],
        duration_s=row["duration_s"],
        sound_dbfs=row["sound_dbfs"],
        end_reason=row["end_reason"],
        heard=heard_from_stored(row["heard"]),
        ignored=ignored_from_stored(row["ignored"]),
        not_a_cry=mark,
    )


async def member_role(
    conn: AsyncConnection[Any], user_id: int, device_id: str, *, lock: bool = False
) -> MemberRole | None:
    cursor = await conn.execute(_ROLE + (" FOR UPDATE OF d" if lock else ""), (user_id, device_id))
    row = await cursor.fetchone()
    return None if row is None else cast(MemberRole, row["role"])


async def get_device(
    conn: AsyncConnection[Any], user_id: int, device_id: str
) -> DeviceSummary | None:
    cursor = await conn.execute(
        _SUMMARIES + " AND m.device_id = %(device_id)s",
        {"user_id": user_id, "device_id": device_id},
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    (device,) = await _with_ignore_lists(conn, [_summary(row)])
    return device


async def _get_visible(conn: AsyncConnection[Any], user_id: int, device_id: str) -> DeviceSummary:
    device = await get_device(conn, user_id, device_id)
    if device is None:
        raise NotFoundError("device")
    return device


async def list_devices(conn: AsyncConnection[Any], user_id: int) -> list[DeviceSummary]:
    cursor = await conn.execute(_SUMMARIES, {"user_id": user_id})
    summaries = sorted((_summary(row) for row in await cursor.fetchall()), key=device_order)
    return await _with_ignore_lists(conn, summaries)


async def register_device(conn: AsyncConnection[Any], device_id: str, owner_id: int | None) -> None:
    async with conn.transaction():
        cursor = await conn.execute(
            "INSERT INTO devices (device_id) VALUES (%s) ON CONFLICT (device_id) DO NOTHING"
            " RETURNING device_id",
            (device_id,),
        )
        created = await cursor.fetchone() is not None
        cursor = await conn.execute(
            "SELECT owner_id, history_from, now() AS now FROM devices"
            " WHERE device_id = %s FOR UPDATE",
            (device_id,),
        )
        row = await cursor.fetchone()
        assert row is not None
        if row["owner_id"] != owner_id:
            period_start = period_start_after_change(
                created=created, new_owner=owner_id, period_start=row["history_from"],
                now=row["now"],
            )  # fmt: skip
            await conn.execute("DELETE FROM device_members WHERE device_id = %s", (device_id,))
            await conn.execute(
                "UPDATE devices SET owner_id = %(owner)s,"
                " claimed_at = CASE WHEN %(owner)s::bigint IS NULL THEN NULL ELSE now() END,"
                " claim_code_hash = CASE WHEN %(owner)s::bigint IS NULL THEN claim_code_hash END,"
                " claim_expires_at = CASE WHEN %(owner)s::bigint IS NULL THEN claim_expires_at END,"
                " history_from = %(period_start)s"
                " WHERE device_id = %(device_id)s",
                {"owner": owner_id, "device_id": device_id, "period_start": period_start},
            )
            # Nobody's open alarms escalate to whoever holds the device next.
            await conn.execute(
                "UPDATE alerts SET next_escalation_at = NULL WHERE device_id = %s"
                " AND next_escalation_at IS NOT NULL",
                (device_id,),
            )
            # Nor do they inherit its "not a cry" list.
            await reset_ignore_list(conn, device_id)
        if owner_id is not None:
            await conn.execute(
                "INSERT INTO device_members (device_id, user_id, role) VALUES (%s, %s, 'owner')"
                " ON CONFLICT (device_id, user_id) DO UPDATE SET role = 'owner'",
                (device_id, owner_id),
            )


async def set_claim_code(
    conn: AsyncConnection[Any], device_id: str, code_hash: str, expires_at: datetime
) -> None:
    try:
        async with conn.transaction():
            # An expired code of another device no longer needs its hash.
            await conn.execute(
                "UPDATE devices SET claim_code_hash = NULL, claim_expires_at = NULL"
                " WHERE claim_code_hash = %s AND device_id <> %s AND claim_expires_at <= now()",
                (code_hash, device_id),
            )
            await conn.execute(
                "INSERT INTO devices (device_id, claim_code_hash, claim_expires_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (device_id) DO UPDATE SET"
                " claim_code_hash = EXCLUDED.claim_code_hash,"
                " claim_expires_at = EXCLUDED.claim_expires_at",
                (device_id, code_hash, expires_at),
            )
    except psycopg.errors.UniqueViolation as exc:
        raise ClaimCodeInUseError("another device waits for this claim code") from exc


async def claim_device(
    conn: AsyncConnection[Any], user_id: int, code_hash: str, now: datetime, name: str | None
) -> DeviceSummary | None:
    async with conn.transaction():
        cursor = await conn.execute(
            _CLAIM, {"user_id": user_id, "name": name, "now": now, "code_hash": code_hash}
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        device_id = row["device_id"]
        # An unowned device has no members; cleared anyway, so nobody rides along.
        await conn.execute("DELETE FROM device_members WHERE device_id = %s", (device_id,))
        await conn.execute(
            "INSERT INTO device_members (device_id, user_id, role, added_at)"
            " VALUES (%s, %s, 'owner', %s)",
            (device_id, user_id, now),
        )
        # Alarms raised before the claim (while nobody held it) never escalate to the new family.
        await conn.execute(
            "UPDATE alerts SET next_escalation_at = NULL WHERE device_id = %s"
            " AND next_escalation_at IS NOT NULL",
            (device_id,),
        )
        # A new family starts with nothing marked "not a cry" (the API sends the empty list).
        await reset_ignore_list(conn, device_id)
        return await get_device(conn, user_id, device_id)


async def rename_device(
    conn: AsyncConnection[Any], user_id: int, device_id: str, name: str | None
) -> DeviceSummary:
    async with conn.transaction():
        require_owner(await member_role(conn, user_id, device_id, lock=True))
        await conn.execute("UPDATE devices SET name = %s WHERE device_id = %s", (name, device_id))
        return await _get_visible(conn, user_id, device_id)


async def update_device_settings(
    conn: AsyncConnection[Any],
    user_id: int,
    device_id: str,
    nursery: dict[str, object] | None,
    device: dict[str, object] | None,
) -> DeviceSummary:
    async with conn.transaction():
        require_owner(await member_role(conn, user_id, device_id, lock=True))
        await conn.execute(_UPDATE_SETTINGS, {
            "nursery": None if nursery is None else Jsonb(nursery),
            "device": None if device is None else Jsonb(device),
            "device_id": device_id,
        })  # fmt: skip
        return await _get_visible(conn, user_id, device_id)


async def unclaim_device(conn: AsyncConnection[Any], user_id: int, device_id: str) -> None:
    async with conn.transaction():
        require_owner(await member_role(conn, user_id, device_id, lock=True))
        await conn.execute("DELETE FROM device_members WHERE device_id = %s", (device_id,))
        await conn.execute(_UNCLAIM, (device_id,))
        # The family's open alarms go with them: none may escalate to the next owner.
        await conn.execute(
            "UPDATE alerts SET next_escalation_at = NULL WHERE device_id = %s"
            " AND next_escalation_at IS NOT NULL",
            (device_id,),
        )
        # And their "not a cry" marks: the device forgets them with the next list it is sent.
        await reset_ignore_list(conn, device_id)


async def _members(
    conn: AsyncConnection[Any], device_id: str, user_id: int | None = None
) -> list[Caregiver]:
    cursor = await conn.execute(_MEMBERS, {"device_id": device_id, "user_id": user_id})
    return [Caregiver(**row) for row in await cursor.fetchall()]


async def list_caregivers(
    conn: AsyncConnection[Any], user_id: int, device_id: str
) -> list[Caregiver]:
    async with conn.transaction():
        require_member(await member_role(conn, user_id, device_id))
        return await _members(conn, device_id)


async def add_caregiver(
    conn: AsyncConnection[Any], owner_id: int, device_id: str, email: str
) -> Caregiver:
    async with conn.transaction():
        require_owner(await member_role(conn, owner_id, device_id, lock=True))
        cursor = await conn.execute(
            "SELECT id FROM users WHERE email_key IN (%s, %s) ORDER BY email_key = %s DESC LIMIT 1",
            email_lookup_params(email),
        )
        user = await cursor.fetchone()
        if user is None:
            raise NotFoundError("user", "no account with this e-mail address")
        await conn.execute(
            "INSERT INTO device_members (device_id, user_id, role) VALUES (%s, %s, 'caregiver')"
            " ON CONFLICT (device_id, user_id) DO NOTHING",
            (device_id, user["id"]),
        )
        (member,) = await _members(conn, device_id, user["id"])
        return member


async def remove_caregiver(
    conn: AsyncConnection[Any], user_id: int, device_id: str, member_id: int
) -> None:
    async with conn.transaction():
        caller_role = require_member(await member_role(conn, user_id, device_id, lock=True))
        target_role = await member_role(conn, member_id, device_id)
        check_removal(user_id, caller_role, member_id, target_role)
        await conn.execute(
            "DELETE FROM device_members WHERE device_id = %s AND user_id = %s AND role <> %s",
            (device_id, member_id, OWNER),
        )


async def list_cry_episodes(
    conn: AsyncConnection[Any],
    user_id: int,
    device_id: str,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[CryEpisode]:
    async with conn.transaction():
        require_member(await member_role(conn, user_id, device_id))
        cursor = await conn.execute(
            _EPISODES, {"device_id": device_id, "start": start, "end": end, "limit": limit}
        )
        rows = await cursor.fetchall()
    return [_episode(row) for row in rows]
