"""The "not a cry" list on SQLite, with the semantics of postgres/not_a_cry.py. Each change
runs in one ``BEGIN IMMEDIATE`` transaction on the single database thread, so the role it
checks is still the caller's when it writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from cloud.storage.interface import NotFoundError
from cloud.storage.not_a_cry_plan import (
    MARK_ORDER,
    MARKS_KEPT,
    refuse_ambiguous_episode,
    require_one_episode,
)
from cloud.storage.records import IgnoreListState
from cloud.storage.sharing_plan import require_member
from cloud.storage.sqlite.database import SqliteDatabase, Transaction, to_db_time
from cloud.storage.sqlite.devices import member_role
from cloud.storage.sqlite.ignore_lists import (
    bump_revision,
    load_ignore_lists,
    note_ignore_list_published,
    unpublished_ignore_lists,
)

T = TypeVar("T")

# How many cry episodes of the device in its current claim period (cloud/storage/claim_plan.py)
# have this id: one to mark; more when the device's ids started again (not_a_cry_plan.py).
_EPISODES = """
SELECT count(*) AS episodes FROM devices d
JOIN events s ON s.device_id = d.device_id AND s.kind = 'cry_started' AND s.episode_id = ?
WHERE d.device_id = ?
  AND s.time >= coalesce(d.history_from, '')
  AND s.received_at >= coalesce(d.history_from, '')
"""

_MARK = """
INSERT INTO not_a_cry_marks (device_id, episode_id, marked_by, marked_at)
VALUES (?, ?, ?, ?) ON CONFLICT (device_id, episode_id) DO NOTHING
"""

_DROP_OLDEST = f"""
DELETE FROM not_a_cry_marks WHERE device_id = :device_id AND episode_id NOT IN (
    SELECT episode_id FROM not_a_cry_marks WHERE device_id = :device_id
    ORDER BY {MARK_ORDER} LIMIT :kept
)
"""  # noqa: S608 - constants


def _state(conn: sqlite3.Connection, device_id: str) -> IgnoreListState:
    state = load_ignore_lists(conn, [device_id]).get(device_id)
    if state is None:
        raise NotFoundError("device")
    return state


def mark_not_a_cry(
    conn: sqlite3.Connection, user_id: int, device_id: str, episode_id: int, now: datetime
) -> IgnoreListState:
    with Transaction(conn):
        require_member(member_role(conn, user_id, device_id))
        require_one_episode(
            conn.execute(_EPISODES, (episode_id, device_id)).fetchone()["episodes"], episode_id
        )
        if conn.execute(_MARK, (device_id, episode_id, user_id, to_db_time(now))).rowcount:
            conn.execute(_DROP_OLDEST, {"device_id": device_id, "kept": MARKS_KEPT})
            bump_revision(conn, device_id)
        return _state(conn, device_id)


def unmark_not_a_cry(
    conn: sqlite3.Connection, user_id: int, device_id: str, episode_id: int, one_episode: bool
) -> IgnoreListState:
    with Transaction(conn):
        require_member(member_role(conn, user_id, device_id))
        if one_episode:
            episodes = conn.execute(_EPISODES, (episode_id, device_id)).fetchone()["episodes"]
            refuse_ambiguous_episode(episodes, episode_id)
        deleted = conn.execute(
            "DELETE FROM not_a_cry_marks WHERE device_id = ? AND episode_id = ?",
            (device_id, episode_id),
        ).rowcount
        if deleted:
            bump_revision(conn, device_id)
        return _state(conn, device_id)


def clear_ignore_list(conn: sqlite3.Connection, user_id: int, device_id: str) -> IgnoreListState:
    with Transaction(conn):
        require_member(member_role(conn, user_id, device_id))
        conn.execute("DELETE FROM not_a_cry_marks WHERE device_id = ?", (device_id,))
        # Always a new revision, also for a list empty here (Storage.clear_ignore_list: why).
        bump_revision(conn, device_id)
        return _state(conn, device_id)


def get_ignore_list(conn: sqlite3.Connection, user_id: int, device_id: str) -> IgnoreListState:
    with Transaction(conn, "DEFERRED"):
        require_member(member_role(conn, user_id, device_id))
        return _state(conn, device_id)


def ignore_list_for_device(conn: sqlite3.Connection, device_id: str) -> IgnoreListState:
    with Transaction(conn, "DEFERRED"):
        return _state(conn, device_id)


class SqliteNotACryStorage:
    """The "not a cry" part of SqliteStorage (mixed in; it provides ``_db``)."""

    _db: SqliteDatabase

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.run(work)

    async def mark_not_a_cry(
        self, user_id: int, device_id: str, episode_id: int, now: datetime
    ) -> IgnoreListState:
        return await self._run(lambda c: mark_not_a_cry(c, user_id, device_id, episode_id, now))

    async def unmark_not_a_cry(
        self, user_id: int, device_id: str, episode_id: int, one_episode: bool = False
    ) -> IgnoreListState:
        return await self._run(
            lambda c: unmark_not_a_cry(c, user_id, device_id, episode_id, one_episode)
        )

    async def clear_ignore_list(self, user_id: int, device_id: str) -> IgnoreListState:
        return await self._run(lambda c: clear_ignore_list(c, user_id, device_id))

    async def get_ignore_list(self, user_id: int, device_id: str) -> IgnoreListState:
        return await self._run(lambda c: get_ignore_list(c, user_id, device_id))

    async def ignore_list_for_device(self, device_id: str) -> IgnoreListState:
        return await self._run(lambda c: ignore_list_for_device(c, device_id))

    async def unpublished_ignore_lists(self, limit: int) -> list[IgnoreListState]:
        return await self._run(lambda c: unpublished_ignore_lists(c, limit))

    async def note_ignore_list_published(self, device_id: str, revision: int) -> None:
        await self._run(lambda c: note_ignore_list_published(c, device_id, revision))
