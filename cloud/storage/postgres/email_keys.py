"""Gives accounts created before e-mail keys (migration 0014) their key, on every start."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from cloud.storage.emails import log_email_keys, plan_email_keys
from cloud.storage.postgres.migrations import MIGRATION_LOCK_ID


async def fill_email_keys(conn: AsyncConnection[Any]) -> None:
    """Keys computed in Python (SQL cannot fold like ``email_key``), under the migration lock so
    that API processes starting together do not compute them twice."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        cursor = await conn.execute("SELECT id, email FROM users WHERE email_key IS NULL")
        missing = [(int(row["id"]), str(row["email"])) for row in await cursor.fetchall()]
        if not missing:
            return
        cursor = await conn.execute("SELECT email_key FROM users WHERE email_key IS NOT NULL")
        taken = {str(row["email_key"]) for row in await cursor.fetchall()}
        assignments, collisions = plan_email_keys(missing, taken)
        async with conn.cursor() as cur:
            await cur.executemany(
                "UPDATE users SET email_key = %s WHERE id = %s",
                [(key, user_id) for user_id, key in assignments],
            )
    log_email_keys(assignments, collisions)
