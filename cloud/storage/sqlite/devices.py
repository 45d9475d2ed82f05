"""Devices on SQLite, with the semantics of postgres/devices.py.

Each change runs in one ``BEGIN IMMEDIATE`` transaction on the single database thread, so the
role it checks is still the caller's when it writes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

from cloud.storage.claim_plan import period_start_after_change
from cloud.storage.emails import email_lookup_params
from cloud.storage.heard import heard_from_stored
from cloud.storage.interface import ClaimCodeInUseError, NotFoundError
from cloud.storage.not_a_cry_plan import ignored_from_stored
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
from cloud.storage.sqlite.database import Transaction, from_db_time, optional_time, to_db_time
from cloud.storage.sqlite.ignore_lists import load_ignore_lists, reset_ignore_list

# What the device last reported on config/reported (the collector keeps the latest revision).
_REPORTED_COLUMNS = (
    "d.reported_revision, d.reported_accepted, d.reported_error, d.reported_at, d.reported_settings"
)

_SUMMARIES = f"""
SELECT {SUMMARY_COLUMNS}, {_REPORTED_COLUMNS}
FROM device_members m JOIN devices d ON d.device_id = m.device_id
WHERE m.user_id = :user_id
"""  # noqa: S608 - a constant

_MEMBERS = f"""
SELECT u.id AS user_id, u.email, u.name, m.role, m.added_at
FROM device_members m JOIN users u ON u.id = m.user_id
WHERE m.device_id = :device_id AND (:user_id IS NULL OR m.user_id = :user_id)
ORDER BY {MEMBER_ORDER}
"""  # noqa: S608 - a constant

# A claim opens a new period (cloud.storage.claim_plan.claim_period_start).
_CLAIM = """
UPDATE devices SET owner_id = :user_id, name = :name, claimed_at = :now,
       claim_code_hash = NULL, claim_expires_at = NULL,
       history_from = max(coalesce(history_from, :now), :now)
WHERE claim_code_hash = :code_hash AND claim_expires_at > :now AND owner_id IS NULL
      AND revoked_at IS NULL
RETURNING device_id
"""

_UPDATE_SETTINGS = """
UPDATE devices SET
    settings = coalesce(:nursery, settings),
    device_settings = coalesce(:device, device_settings),
    device_settings_revision = device_settings_revision
        + CASE WHEN :device IS NULL THEN 0 ELSE 1 END
WHERE device_id = :device_id
"""

_UNCLAIM = """
UPDATE devices SET owner_id = NULL, name = NULL, claimed_at = NULL, claim_code_hash = NULL,
       claim_expires_at = NULL, settings = '{}', device_settings = '{}',
       device_settings_revision = device_settings_revision + 1, history_from = ?
WHERE device_id = ?
"""

_EPISODES = """
SELECT s.device_id, s.episode_id, s.time AS started_at, e.time AS ended_at,
       coalesce(e.confidence, s.confidence) AS confidence, e.duration_s,
       coalesce(e.sound_dbfs, s.sound_dbfs) AS sound_dbfs, e.end_reason,
       coalesce(e.heard, s.heard) AS heard, s.ignored,
       nm.marked_at, nm.marked_by, u.name AS marked_by_name
FROM devices d
JOIN events s ON s.device_id = d.device_id AND s.kind = 'cry_started'
LEFT JOIN events e ON e.id = (
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
          AND o.time >= coalesce(d.history_from, '')
          AND o.received_at >= coalesce(d.history_from, '')
          AND (o.received_at, o.id) < (s.received_at, s.id)
    )
LEFT JOIN users u ON u.id = nm.marked_by
WHERE d.device_id = :device_id
  AND s.time >= coalesce(d.history_from, '')
  AND s.received_at >= coalesce(d.history_from, '')
  AND (:start IS NULL OR s.time >= :start)
  AND (:end IS NULL OR s.time <= :end)
ORDER BY s.time DESC, s.seq DESC
LIMIT :limit
"""


def _now() -> str:
    return to_db_time(datetime.now(UTC))


def _optional(value: datetime | None) -> str | None:
    return None if value is None else to_db_time(value)


def _summary(row: sqlite3.Row) -> DeviceSummary:
    return DeviceSummary(
        device_id=row["device_id"],
        name=row["name"],
        role=row["role"],
        online=bool(row["online"]),
        last_seen=optional_time(row["last_seen"]),
        firmware_version=row["firmware_version"],
        model_version=row["model_version"],
        claimed_at=optional_time(row["claimed_at"]),
        nursery_settings=json.loads(row["nursery_settings"]),
        device_settings=json.loads(row["device_settings"]),
        device_settings_revision=row["device_settings_revision"],
        reported_revision=row["reported_revision"],
        reported_accepted=_optional_bool(row["reported_accepted"]),
        reported_error=row["reported_error"],
        reported_at=optional_time(row["reported_at"]),
        reported_settings=_optional_json(row["reported_settings"]),
    )


def _with_ignore_lists(
    conn: sqlite3.Connection, summaries: list[DeviceSummary]
) -> list[DeviceSummary]:
    lists = load_ignore_lists(conn, [device.device_id for device in summaries])
    return [replace(device, ignore_list=lists.get(device.device_id)) for device in summaries]


def _optional_bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _optional_json(value: str | None) -> dict[str, object] | None:
    return None if value is None else cast(dict[str, object], json.loads(value))


def _caregiver(row: sqlite3.Row) -> Caregiver:
    return Caregiver(
        row["user_id"], row["email"], row["name"], row["role"], from_db_time(row["added_at"])
    )


def member_role(conn: sqlite3.Connection, user_id: int, device_id: str) -> MemberRole | None:
    row = conn.execute(
        "SELECT role FROM device_members WHERE user_id = ? AND device_id = ?", (user_id, device_id)
    ).fetchone()
    return None if row is None else cast(MemberRole, row["role"])


def get_device(conn: sqlite3.Connection, user_id: int, device_id: str) -> DeviceSummary | None:
    row = conn.execute(
        _SUMMARIES + " AND m.device_id = :device_id", {"user_id": user_id, "device_id": device_id}
    ).fetchone()
    if row is None:
        return None
    (device,) = _with_ignore_lists(conn, [_summary(row)])
    return device


def _get_visible(conn: sqlite3.Connection, user_id: int, device_id: str) -> DeviceSummary:
    device = get_device(conn, user_id, device_id)
    if device is None:
        raise NotFoundError("device")
    return device


def list_devices(conn: sqlite3.Connection, user_id: int) -> list[DeviceSummary]:
    rows = conn.execute(_SUMMARIES, {"user_id": user_id})
    return _with_ignore_lists(conn, sorted((_summary(row) for row in rows), key=device_order))


def register_device(conn: sqlite3.Connection, device_id: str, owner_id: int | None) -> None:
    now = _now()
    with Transaction(conn):
        inserted = conn.execute(
            "INSERT INTO devices (device_id, created_at) VALUES (?, ?)"
            " ON CONFLICT (device_id) DO NOTHING",
            (device_id, now),
        )
        created = inserted.rowcount == 1
        row = conn.execute(
            "SELECT owner_id, history_from FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        if row["owner_id"] != owner_id:
            period_start = period_start_after_change(
                created=created, new_owner=owner_id,
                period_start=optional_time(row["history_from"]), now=from_db_time(now),
            )  # fmt: skip
            conn.execute("DELETE FROM device_members WHERE device_id = ?", (device_id,))
            conn.execute(
                "UPDATE devices SET owner_id = :owner,"
                " claimed_at = CASE WHEN :owner IS NULL THEN NULL ELSE :now END,"
                " claim_code_hash = CASE WHEN :owner IS NULL THEN claim_code_hash END,"
                " claim_expires_at = CASE WHEN :owner IS NULL THEN claim_expires_at END,"
                " history_from = :period_start"
                " WHERE device_id = :device_id",
                {"owner": owner_id, "now": now, "device_id": device_id,
                 "period_start": None if period_start is None else to_db_time(period_start)},
            )  # fmt: skip
            # Nobody's open alarms escalate to whoever holds the device next.
            conn.execute(
                "UPDATE alerts SET next_escalation_at = NULL WHERE device_id = ?"
                " AND next_escalation_at IS NOT NULL",
                (device_id,),
            )
            # Nor do they inherit its "not a cry" list.
            reset_ignore_list(conn, device_id)
        if owner_id is not None:
            conn.execute(
                "INSERT INTO device_members (device_id, user_id, role, added_at)"
                " VALUES (?, ?, 'owner', ?)"
                " ON CONFLICT (device_id, user_id) DO UPDATE SET role = 'owner'",
                (device_id, owner_id, now),
            )


def set_claim_code(
    conn: sqlite3.Connection, device_id: str, code_hash: str, expires_at: datetime
) -> None:
    now = _now()
    try:
        with Transaction(conn):
            conn.execute(
                "UPDATE devices SET claim_code_hash = NULL, claim_expires_at = NULL"
                " WHERE claim_code_hash = ? AND device_id <> ? AND claim_expires_at <= ?",
                (code_hash, device_id, now),
            )
            conn.execute(
                "INSERT INTO devices (device_id, created_at, claim_code_hash, claim_expires_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
                " claim_code_hash = excluded.claim_code_hash,"
                " claim_expires_at = excluded.claim_expires_at",
                (device_id, now, code_hash, to_db_time(expires_at)),
            )
    except sqlite3.IntegrityError as exc:
        raise ClaimCodeInUseError("another device waits for this claim code") from exc


def claim_device(
    conn: sqlite3.Connection, user_id: int, code_hash: str, now: datetime, name: str | None
) -> DeviceSummary | None:
    with Transaction(conn):
        row = conn.execute(_CLAIM, {
            "user_id": user_id, "name": name, "now": to_db_time(now), "code_hash": code_hash,
        }).fetchone()  # fmt: skip
        if row is None:
            return None
        device_id = row["device_id"]
        conn.execute("DELETE FROM device_members WHERE device_id = ?", (device_id,))
        conn.execute(
            "INSERT INTO device_members (device_id, user_id, role, added_at)"
            " VALUES (?, ?, 'owner', ?)",
            (device_id, user_id, to_db_time(now)),
        )
        # Alarms raised before the claim (while nobody held it) never escalate to the new family.
        conn.execute(
            "UPDATE alerts SET next_escalation_at = NULL WHERE device_id = ?"
            " AND next_escalation_at IS NOT NULL",
            (device_id,),
        )
        # A new family starts with nothing marked "not a cry" (the API sends the empty list).
        reset_ignore_list(conn, device_id)
        return get_device(conn, user_id, device_id)


def rename_device(
    conn: sqlite3.Connection, user_id: int, device_id: str, name: str | None
) -> DeviceSummary:
    with Transaction(conn):
        require_owner(member_role(conn, user_id, device_id))
        conn.execute("UPDATE devices SET name = ? WHERE device_id = ?", (name, device_id))
        return _get_visible(conn, user_id, device_id)


def update_device_settings(
    conn: sqlite3.Connection,
    user_id: int,
    device_id: str,
    nursery: dict[str, object] | None,
    device: dict[str, object] | None,
) -> DeviceSummary:
    with Transaction(conn):
        require_owner(member_role(conn, user_id, device_id))
        conn.execute(_UPDATE_SETTINGS, {
            "nursery": None if nursery is None else json.dumps(nursery),
            "device": None if device is None else json.dumps(device),
            "device_id": device_id,
        })  # fmt: skip
        return _get_visible(conn, user_id, device_id)


def unclaim_device(conn: sqlite3.Connection, user_id: int, device_id: str) -> None:
    with Transaction(conn):
        require_owner(member_role(conn, user_id, device_id))
        conn.execute("DELETE FROM device_members WHERE device_id = ?", (device_id,))
        conn.execute(_UNCLAIM, (_now(), device_id))
        # The family's open alarms go with them: none may escalate to the next owner.
        conn.execute(
            "UPDATE alerts SET next_escalation_at = NULL WHERE device_id = ?"
            " AND next_escalation_at IS NOT NULL",
            (device_id,),
        )
        # And their "not a cry" marks: the device forgets them with the next list it is sent.
        reset_ignore_list(conn, device_id)


def _members(
    conn: sqlite3.Connection, device_id: str, user_id: int | None = None
) -> list[Caregiver]:
    rows = conn.execute(_MEMBERS, {"device_id": device_id, "user_id": user_id})
    return [_caregiver(row) for row in rows]


def list_caregivers(conn: sqlite3.Connection, user_id: int, device_id: str) -> list[Caregiver]:
    with Transaction(conn, "DEFERRED"):
        require_member(member_role(conn, user_id, device_id))
        return _members(conn, device_id)


def add_caregiver(conn: sqlite3.Connection, owner_id: int, device_id: str, email: str) -> Caregiver:
    with Transaction(conn):
        require_owner(member_role(conn, owner_id, device_id))
        user = conn.execute(
            "SELECT id FROM users WHERE email_key IN (?, ?) ORDER BY email_key = ? DESC LIMIT 1",
            email_lookup_params(email),
        ).fetchone()
        if user is None:
            raise NotFoundError("user", "no account with this e-mail address")
        conn.execute(
            "INSERT INTO device_members (device_id, user_id, role, added_at)"
            " VALUES (?, ?, 'caregiver', ?) ON CONFLICT (device_id, user_id) DO NOTHING",
            (device_id, user["id"], _now()),
        )
        (member,) = _members(conn, device_id, user["id"])
        return member


def remove_caregiver(
    conn: sqlite3.Connection, user_id: int, device_id: str, member_id: int
) -> None:
    with Transaction(conn):
        caller_role = require_member(member_role(conn, user_id, device_id))
        check_removal(user_id, caller_role, member_id, member_role(conn, member_id, device_id))
        conn.execute(
            "DELETE FROM device_members WHERE device_id = ? AND user_id = ? AND role <> ?",
            (device_id, member_id, OWNER),
        )


def list_cry_episodes(
    conn: sqlite3.Connection,
    user_id: int,
    device_id: str,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[CryEpisode]:
    with Transaction(conn, "DEFERRED"):
        require_member(member_role(conn, user_id, device_id))
        rows = conn.execute(_EPISODES, {
            "device_id": device_id, "start": _optional(start), "end": _optional(end),
            "limit": limit,
        }).fetchall()  # fmt: skip
    return [
        CryEpisode(
            device_id=row["device_id"],
            episode_id=row["episode_id"],
            started_at=from_db_time(row["started_at"]),
            ended_at=optional_time(row["ended_at"]),
            confidence=row["confidence"],
            duration_s=row["duration_s"],
            sound_dbfs=row["sound_dbfs"],
            end_reason=row["end_reason"],
            heard=heard_from_stored(row["heard"]),
            ignored=ignored_from_stored(row["ignored"]),
            not_a_cry=_mark(row),
        )
        for row in rows
    ]


def _mark(row: sqlite3.Row) -> NotACryMark | None:
    if row["marked_at"] is None:
        return None
    return NotACryMark(
        row["device_id"], row["episode_id"], from_db_time(row["marked_at"]), row["marked_by"],
        row["marked_by_name"],
    )  # fmt: skip
