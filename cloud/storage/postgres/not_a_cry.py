"""The "not a cry" list on PostgreSQL: the members' changes (any member may mark, undo and
clear) and the reads. Each change locks the device row while it reads the caller's role, as
postgres/devices.py does, so it never acts on a membership a concurrent unclaim took away,
and two concurrent marks cannot both think they raised the revision from the same list."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from cloud.storage.interface import NotFoundError
from cloud.storage.not_a_cry_plan import (
    MARK_ORDER,
    MARKS_KEPT,
    refuse_ambiguous_episode,
    require_one_episode,
)
from cloud.storage.postgres.devices import member_role
from cloud.storage.postgres.ignore_lists import (
    bump_revision,
    ignore_list_snapshot,
    load_ignore_lists,
    note_ignore_list_published,
    unpublished_ignore_lists,
)
from cloud.storage.records import IgnoreListState
from cloud.storage.sharing_plan import require_member

# How many cry episodes of the device in its current claim period (cloud/storage/claim_plan.py)
# have this id: one to mark; more when the device's ids started again (not_a_cry_plan.py).
_EPISODES = """
SELECT count(*) AS episodes FROM devices d
JOIN events s ON s.device_id = d.device_id AND s.kind = 'cry_started' AND s.episode_id = %s
WHERE d.device_id = %s
  AND s.time >= coalesce(d.history_from, '-infinity')
  AND s.received_at >= coalesce(d.history_from, '-infinity')
"""

_MARK = """
INSERT INTO not_a_cry_marks (device_id, episode_id, marked_by, marked_at)
VALUES (%s, %s, %s, %s) ON CONFLICT (device_id, episode_id) DO NOTHING
"""

# Beyond the newest MARKS_KEPT: no longer sent, so no longer kept.
_DROP_OLDEST = f"""
DELETE FROM not_a_cry_marks WHERE device_id = %(device_id)s AND episode_id NOT IN (
    SELECT episode_id FROM not_a_cry_marks WHERE device_id = %(device_id)s
    ORDER BY {MARK_ORDER} LIMIT %(kept)s
)
"""  # noqa: S608 - constants


async def _authorize(conn: AsyncConnection[Any], user_id: int, device_id: str) -> None:
    require_member(await member_role(conn, user_id, device_id, lock=True))


async def _state(conn: AsyncConnection[Any], device_id: str) -> IgnoreListState:
    state = (await load_ignore_lists(conn, [device_id])).get(device_id)
    if state is None:
        raise NotFoundError("device")
    return state


async def mark_not_a_cry(
    conn: AsyncConnection[Any], user_id: int, device_id: str, episode_id: int, now: datetime
) -> IgnoreListState:
    async with conn.transaction():
        await _authorize(conn, user_id, device_id)
        cursor = await conn.execute(_EPISODES, (episode_id, device_id))
        row = await cursor.fetchone()
        require_one_episode(0 if row is None else row["episodes"], episode_id)
        cursor = await conn.execute(_MARK, (device_id, episode_id, user_id, now))
        if cursor.rowcount:
            await conn.execute(_DROP_OLDEST, {"device_id": device_id, "kept": MARKS_KEPT})
            await bump_revision(conn, device_id)
        return await _state(conn, device_id)


async def unmark_not_a_cry(
    conn: AsyncConnection[Any], user_id: int, device_id: str, episode_id: int, one_episode: bool
) -> IgnoreListState:
    async with conn.transaction():
        await _authorize(conn, user_id, device_id)
        if one_episode:
            cursor = await conn.execute(_EPISODES, (episode_id, device_id))
            row = await cursor.fetchone()
            refuse_ambiguous_episode(0 if row is None else row["episodes"], episode_id)
        cursor = await conn.execute(
            "DELETE FROM not_a_cry_marks WHERE device_id = %s AND episode_id = %s",
            (device_id, episode_id),
        )
        if cursor.rowcount:
            await bump_revision(conn, device_id)
        return await _state(conn, device_id)


async def clear_ignore_list(
    conn: AsyncConnection[Any], user_id: int, device_id: str
) -> IgnoreListState:
    async with conn.transaction():
        await _authorize(conn, user_id, device_id)
        await conn.execute("DELETE FROM not_a_cry_marks WHERE device_id = %s", (device_id,))
        # Always a new revision, also for a list empty here (Storage.clear_ignore_list: why).
        await bump_revision(conn, device_id)
        return await _state(conn, device_id)


async def get_ignore_list(
    conn: AsyncConnection[Any], user_id: int, device_id: str
) -> IgnoreListState:
    async with conn.transaction():
        require_member(await member_role(conn, user_id, device_id))
        return await _state(conn, device_id)


class PostgresNotACryStorage:
    """The "not a cry" part of PostgresStorage (mixed in; it provides ``_connection``)."""

    _connection: Callable[[], AbstractAsyncContextManager[AsyncConnection[DictRow]]]

    async def mark_not_a_cry(
        self, user_id: int, device_id: str, episode_id: int, now: datetime
    ) -> IgnoreListState:
        async with self._connection() as conn:
            return await mark_not_a_cry(conn, user_id, device_id, episode_id, now)

    async def unmark_not_a_cry(
        self, user_id: int, device_id: str, episode_id: int, one_episode: bool = False
    ) -> IgnoreListState:
        async with self._connection() as conn:
            return await unmark_not_a_cry(conn, user_id, device_id, episode_id, one_episode)

    async def clear_ignore_list(self, user_id: int, device_id: str) -> IgnoreListState:
        async with self._connection() as conn:
            return await clear_ignore_list(conn, user_id, device_id)

    async def get_ignore_list(self, user_id: int, device_id: str) -> IgnoreListState:
        async with self._connection() as conn:
            return await get_ignore_list(conn, user_id, device_id)

    async def ignore_list_for_device(self, device_id: str) -> IgnoreListState:
        async with self._connection() as conn:
            state = await ignore_list_snapshot(conn, device_id)
        if state is None:
            raise NotFoundError("device")
        return state

    async def unpublished_ignore_lists(self, limit: int) -> list[IgnoreListState]:
        async with self._connection() as conn:
            return await unpublished_ignore_lists(conn, limit)

    async def note_ignore_list_published(self, device_id: str, revision: int) -> None:
        async with self._connection() as conn:
            await note_ignore_list_published(conn, device_id, revision)
