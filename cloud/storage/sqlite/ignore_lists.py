"""The "not a cry" lists on SQLite without access checks (as postgres/ignore_lists.py): loading
devices' lists, emptying one when the device changes hands (sqlite/devices.py), and what the
API has published of them (cloud/api/ignore_list_sync.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from cloud.storage.not_a_cry_plan import MARK_ORDER, MARKS_KEPT, ignore_list_state
from cloud.storage.records import IgnoreListState, NotACryMark
from cloud.storage.sqlite.database import Transaction, from_db_time

_MARKS = f"""
SELECT m.episode_id, m.marked_at, m.marked_by, u.name AS marked_by_name
FROM not_a_cry_marks m LEFT JOIN users u ON u.id = m.marked_by
WHERE m.device_id = ?
ORDER BY {MARK_ORDER} LIMIT ?
"""  # noqa: S608 - constants


def load_ignore_lists(
    conn: sqlite3.Connection, device_ids: Sequence[str]
) -> dict[str, IgnoreListState]:
    """The lists of these devices (absent: no such device). A query per device: SQLite runs
    them in-process, and a member has a handful of devices."""
    lists = {}
    for device_id in device_ids:
        device = conn.execute(
            "SELECT ignore_list_revision, status FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        if device is None:
            continue
        marks = [
            NotACryMark(
                device_id, row["episode_id"], from_db_time(row["marked_at"]), row["marked_by"],
                row["marked_by_name"],
            )
            for row in conn.execute(_MARKS, (device_id, MARKS_KEPT))
        ]  # fmt: skip
        lists[device_id] = ignore_list_state(
            device_id, device["ignore_list_revision"], marks, device["status"]
        )
    return lists


def unpublished_ignore_lists(conn: sqlite3.Connection, limit: int) -> list[IgnoreListState]:
    # One read transaction: the ids, marks and revisions of one committed state.
    with Transaction(conn, "DEFERRED"):
        device_ids = [
            row["device_id"]
            for row in conn.execute(
                "SELECT device_id FROM devices"
                " WHERE ignore_list_revision > ignore_list_published_revision"
                " ORDER BY device_id LIMIT ?",
                (limit,),
            )
        ]
        lists = load_ignore_lists(conn, device_ids)
    return [lists[device_id] for device_id in device_ids]


def note_ignore_list_published(conn: sqlite3.Connection, device_id: str, revision: int) -> None:
    # Only ever raised (as on PostgreSQL).
    with Transaction(conn):
        conn.execute(
            "UPDATE devices SET ignore_list_published_revision = ?"
            " WHERE device_id = ? AND ignore_list_published_revision < ?",
            (revision, device_id, revision),
        )


def reset_ignore_list(conn: sqlite3.Connection, device_id: str) -> None:
    """The device changes hands: its marks go and, if there were any, the revision rises (as
    on PostgreSQL)."""
    if conn.execute("DELETE FROM not_a_cry_marks WHERE device_id = ?", (device_id,)).rowcount:
        bump_revision(conn, device_id)


def bump_revision(conn: sqlite3.Connection, device_id: str) -> None:
    conn.execute(
        "UPDATE devices SET ignore_list_revision = ignore_list_revision + 1 WHERE device_id = ?",
        (device_id,),
    )
