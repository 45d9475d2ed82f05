"""Refresh tokens on PostgreSQL: rotation with reuse detection.

Every write takes a transaction-scoped advisory lock on the token's user, so storing a rotated
token, spending one, revoking a family and logging out everywhere happen one after the other
for a user: a token stored while its family is being revoked is either revoked with it or born
revoked, never left alive. The same holds for a sign-in whose credentials were read before a
logout everywhere or a new password: its token is stored revoked (``end_sessions``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from cloud.storage.records import RefreshUse
from cloud.storage.sharing_plan import refresh_outcome

# The class half of the two-int advisory lock key ("rfsh"); the other half is the user. The
# two-int key space does not overlap the one-bigint space of the migration lock.
_LOCK_CLASS = 0x72667368
_INT4 = 2**31


async def _lock_user(conn: AsyncConnection[Any], user_id: int) -> None:
    # Users that collide modulo 2**31 merely wait for each other.
    await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, user_id % _INT4))


async def _revoke_family(conn: AsyncConnection[Any], family_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = %s WHERE family_id = %s AND revoked_at IS NULL",
        (now, family_id),
    )


async def store_refresh_token(
    conn: AsyncConnection[Any],
    token_id: str,
    user_id: int,
    family_id: str,
    issued_at: datetime,
    expires_at: datetime,
    generation: int,
) -> bool:
    async with conn.transaction():
        # end_sessions moves the generation on under this lock: the INSERT, a later statement,
        # sees its generation and its revocations once it has committed.
        await _lock_user(conn, user_id)
        cursor = await conn.execute(
            "INSERT INTO refresh_tokens"
            " (token_id, user_id, family_id, issued_at, expires_at, revoked_at)"
            " SELECT %(token_id)s, %(user_id)s, %(family_id)s, %(issued_at)s, %(expires_at)s,"
            " CASE WHEN EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = %(family_id)s"
            " AND revoked_at IS NOT NULL)"
            " OR (SELECT session_generation FROM users WHERE id = %(user_id)s)"
            " IS DISTINCT FROM %(generation)s"
            " THEN %(issued_at)s::timestamptz END"
            " RETURNING revoked_at IS NULL AS alive",
            {"token_id": token_id, "user_id": user_id, "family_id": family_id,
             "issued_at": issued_at, "expires_at": expires_at, "generation": generation},
        )  # fmt: skip
        row = await cursor.fetchone()
        assert row is not None
        return bool(row["alive"])


async def use_refresh_token(
    conn: AsyncConnection[Any], token_id: str, now: datetime
) -> tuple[RefreshUse, int | None]:
    async with conn.transaction():
        cursor = await conn.execute(
            "SELECT user_id FROM refresh_tokens WHERE token_id = %s", (token_id,)
        )
        found = await cursor.fetchone()
        if found is None:
            return "unknown", None
        user_id: int = found["user_id"]
        await _lock_user(conn, user_id)
        # Read again under the lock: a concurrent use of the same token has finished by now.
        cursor = await conn.execute(
            "SELECT family_id, expires_at, used_at, revoked_at FROM refresh_tokens"
            " WHERE token_id = %s",
            (token_id,),
        )
        token = await cursor.fetchone()
        assert token is not None
        outcome = refresh_outcome(token["expires_at"], token["used_at"], token["revoked_at"], now)
        if outcome == "reused":
            await _revoke_family(conn, token["family_id"], now)
        elif outcome == "ok":
            await conn.execute(
                "UPDATE refresh_tokens SET used_at = %s WHERE token_id = %s", (now, token_id)
            )
        return outcome, user_id


async def revoke_refresh_family(conn: AsyncConnection[Any], family_id: str, now: datetime) -> None:
    async with conn.transaction():
        cursor = await conn.execute(
            "SELECT user_id FROM refresh_tokens WHERE family_id = %s LIMIT 1", (family_id,)
        )
        found = await cursor.fetchone()
        if found is None:
            return  # nothing issued in this family
        await _lock_user(conn, found["user_id"])
        await _revoke_family(conn, family_id, now)


async def revoke_user_refresh_tokens(
    conn: AsyncConnection[Any], user_id: int, now: datetime
) -> int:
    async with conn.transaction():
        await _lock_user(conn, user_id)
        cursor = await conn.execute(
            "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL",
            (now, user_id),
        )
        return cursor.rowcount


async def end_sessions(
    conn: AsyncConnection[Any], user_id: int, now: datetime, password_hash: str | None
) -> int | None:
    """Revoke every refresh token of the user and move the sign-in generation on (setting a
    new password first when given), in one transaction; the new generation, None for no user."""
    async with conn.transaction():
        await _lock_user(conn, user_id)
        cursor = await conn.execute(
            "UPDATE users SET session_generation = session_generation + 1,"
            " password_hash = COALESCE(%s, password_hash) WHERE id = %s"
            " RETURNING session_generation",
            (password_hash, user_id),
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        await conn.execute(
            "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL",
            (now, user_id),
        )
        return int(row["session_generation"])


async def session_generations(conn: AsyncConnection[Any], user_ids: list[int]) -> dict[int, int]:
    cursor = await conn.execute(
        "SELECT id, session_generation FROM users WHERE id = ANY(%s)", (user_ids,)
    )
    return {int(row["id"]): int(row["session_generation"]) for row in await cursor.fetchall()}
