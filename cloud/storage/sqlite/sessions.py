"""Refresh tokens on SQLite, with the semantics of postgres/sessions.py (each call is one
``BEGIN IMMEDIATE`` transaction on the single database thread, which serialises them)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from cloud.storage.records import RefreshUse
from cloud.storage.sharing_plan import refresh_outcome
from cloud.storage.sqlite.database import Transaction, from_db_time, optional_time, to_db_time


def _revoke_family(conn: sqlite3.Connection, family_id: str, now: datetime) -> None:
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
        (to_db_time(now), family_id),
    )


def store_refresh_token(
    conn: sqlite3.Connection,
    token_id: str,
    user_id: int,
    family_id: str,
    issued_at: datetime,
    expires_at: datetime,
    generation: int,
) -> bool:
    with Transaction(conn):
        row = conn.execute(
            "INSERT INTO refresh_tokens"
            " (token_id, user_id, family_id, issued_at, expires_at, revoked_at)"
            " SELECT :token_id, :user_id, :family_id, :issued_at, :expires_at,"
            " CASE WHEN EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = :family_id"
            " AND revoked_at IS NOT NULL)"
            " OR (SELECT session_generation FROM users WHERE id = :user_id) IS NOT :generation"
            " THEN :issued_at END"
            " RETURNING revoked_at IS NULL",
            {"token_id": token_id, "user_id": user_id, "family_id": family_id,
             "issued_at": to_db_time(issued_at), "expires_at": to_db_time(expires_at),
             "generation": generation},
        ).fetchone()  # fmt: skip
        assert row is not None
        return bool(row[0])


def use_refresh_token(
    conn: sqlite3.Connection, token_id: str, now: datetime
) -> tuple[RefreshUse, int | None]:
    with Transaction(conn):
        token = conn.execute(
            "SELECT user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens"
            " WHERE token_id = ?",
            (token_id,),
        ).fetchone()
        if token is None:
            return "unknown", None
        outcome = refresh_outcome(
            from_db_time(token["expires_at"]),
            optional_time(token["used_at"]),
            optional_time(token["revoked_at"]),
            now,
        )
        if outcome == "reused":
            _revoke_family(conn, token["family_id"], now)
        elif outcome == "ok":
            conn.execute(
                "UPDATE refresh_tokens SET used_at = ? WHERE token_id = ?",
                (to_db_time(now), token_id),
            )
        return outcome, int(token["user_id"])


def revoke_refresh_family(conn: sqlite3.Connection, family_id: str, now: datetime) -> None:
    with Transaction(conn):
        _revoke_family(conn, family_id, now)


def revoke_user_refresh_tokens(conn: sqlite3.Connection, user_id: int, now: datetime) -> int:
    with Transaction(conn):
        cursor = conn.execute(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (to_db_time(now), user_id),
        )
        return cursor.rowcount


def end_sessions(
    conn: sqlite3.Connection, user_id: int, now: datetime, password_hash: str | None
) -> int | None:
    with Transaction(conn):
        row = conn.execute(
            "UPDATE users SET session_generation = session_generation + 1,"
            " password_hash = COALESCE(?, password_hash) WHERE id = ?"
            " RETURNING session_generation",
            (password_hash, user_id),
        ).fetchone()
        if row is None:
            return None
        conn.execute(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (to_db_time(now), user_id),
        )
        return int(row[0])


def session_generations(conn: sqlite3.Connection, user_ids: list[int]) -> dict[int, int]:
    generations: dict[int, int] = {}
    # SQLite's default limit of bound parameters is 32,766 (999 before 3.32): stay under both.
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, session_generation FROM users WHERE id IN ({marks})",  # noqa: S608
            chunk,
        ).fetchall()
        generations.update({int(row[0]): int(row[1]) for row in rows})
    return generations
