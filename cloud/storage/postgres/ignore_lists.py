"""The "not a cry" lists on PostgreSQL without access checks: loading devices' lists, emptying
one when the device changes hands (postgres/devices.py) - the callers have checked who may -
and what the API has published of them (cloud/api/ignore_list_sync.py). The members' own
changes are in postgres/not_a_cry.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection

from cloud.storage.not_a_cry_plan import MARK_ORDER, MARKS_KEPT, ignore_list_state
from cloud.storage.records import IgnoreListState, NotACryMark

# Each device's newest MARKS_KEPT (the table holds no more, the bound is kept here anyway).
_MARKS = f"""
SELECT device_id, episode_id, marked_at, marked_by, marked_by_name FROM (
    SELECT m.device_id, m.episode_id, m.marked_at, m.marked_by, u.name AS marked_by_name,
           row_number() OVER (PARTITION BY m.device_id ORDER BY {MARK_ORDER}) AS position
    FROM not_a_cry_marks m LEFT JOIN users u ON u.id = m.marked_by
    WHERE m.device_id = ANY(%(ids)s)
) ranked
WHERE position <= %(kept)s
ORDER BY device_id, {MARK_ORDER}
"""  # noqa: S608 - constants

_DEVICES = "SELECT device_id, ignore_list_revision, status FROM devices WHERE device_id = ANY(%s)"

# Answered from the partial index of migration 0022 (only the unsent lists are in it).
_UNPUBLISHED = """
SELECT device_id FROM devices WHERE ignore_list_revision > ignore_list_published_revision
ORDER BY device_id LIMIT %s
"""

_NOTE_PUBLISHED = """
UPDATE devices SET ignore_list_published_revision = %(revision)s
WHERE device_id = %(device_id)s AND ignore_list_published_revision < %(revision)s
"""


async def load_ignore_lists(
    conn: AsyncConnection[Any], device_ids: Sequence[str]
) -> dict[str, IgnoreListState]:
    """The lists of these devices (absent: no such device)."""
    if not device_ids:
        return {}
    ids = list(device_ids)
    cursor = await conn.execute(_MARKS, {"ids": ids, "kept": MARKS_KEPT})
    marks: dict[str, list[NotACryMark]] = {}
    for row in await cursor.fetchall():
        marks.setdefault(row["device_id"], []).append(NotACryMark(**row))
    cursor = await conn.execute(_DEVICES, (ids,))
    return {
        row["device_id"]: ignore_list_state(
            row["device_id"], row["ignore_list_revision"], marks.get(row["device_id"], []),
            row["status"],
        )
        for row in await cursor.fetchall()
    }  # fmt: skip


@asynccontextmanager
async def one_snapshot(conn: AsyncConnection[Any]) -> AsyncIterator[None]:
    """A read-only transaction whose statements all see the same committed state. A list read
    to be published needs it: load_ignore_lists reads the marks and the revision in two
    statements, and at READ COMMITTED a change committed between them would pair the new
    revision with the old marks - a wrong list the device would keep as that revision."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


async def ignore_list_snapshot(
    conn: AsyncConnection[Any], device_id: str
) -> IgnoreListState | None:
    async with one_snapshot(conn):
        return (await load_ignore_lists(conn, [device_id])).get(device_id)


async def unpublished_ignore_lists(conn: AsyncConnection[Any], limit: int) -> list[IgnoreListState]:
    async with one_snapshot(conn):
        cursor = await conn.execute(_UNPUBLISHED, (limit,))
        device_ids = [row["device_id"] for row in await cursor.fetchall()]
        lists = await load_ignore_lists(conn, device_ids)
    return [lists[device_id] for device_id in device_ids]


async def note_ignore_list_published(
    conn: AsyncConnection[Any], device_id: str, revision: int
) -> None:
    # Only ever raised: a process noting an older revision after another noted a newer one
    # must not make the newer list look unsent.
    async with conn.transaction():
        await conn.execute(_NOTE_PUBLISHED, {"device_id": device_id, "revision": revision})


async def reset_ignore_list(conn: AsyncConnection[Any], device_id: str) -> None:
    """The device changes hands: its marks go (they were the previous family's) and the
    revision rises, so the device drops their fingerprints with the next list it is sent. An
    empty list stays as it is: the device holds that revision's empty list already."""
    cursor = await conn.execute("DELETE FROM not_a_cry_marks WHERE device_id = %s", (device_id,))
    if cursor.rowcount:
        await bump_revision(conn, device_id)


async def bump_revision(conn: AsyncConnection[Any], device_id: str) -> None:
    await conn.execute(
        "UPDATE devices SET ignore_list_revision = ignore_list_revision + 1 WHERE device_id = %s",
        (device_id,),
    )
