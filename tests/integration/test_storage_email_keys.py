"""E-mail look-ups agree on PostgreSQL and SQLite (issue 27, finding 10): every spelling that
folds to the same key finds the same account, and accounts created before the key existed get
it on the next start without losing an account whose key collides."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from cloud.storage import DuplicateEmailError, Storage
from cloud.storage.postgres.store import PostgresStorage
from cloud.storage.sqlite.database import Transaction
from cloud.storage.sqlite.store import SqliteStorage


def unique(local: str) -> str:
    return f"{local}-{uuid.uuid4().hex[:8]}@example.com"


async def insert_legacy_user(storage: Storage, email: str) -> int:
    """An account as the code before migration postgres 0014 / sqlite 0011 stored it: no key."""
    if isinstance(storage, PostgresStorage):
        async with storage._pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO users (email, password_hash) VALUES (%s, 'legacy') RETURNING id",
                (email,),
            )
            row = await cursor.fetchone()
            assert row is not None
            return int(row["id"])
    assert isinstance(storage, SqliteStorage)

    def insert(conn: sqlite3.Connection) -> int:
        with Transaction(conn):
            row = conn.execute(
                "INSERT INTO users (email, password_hash, created_at)"
                " VALUES (?, 'legacy', '2026-01-01T00:00:00.000000Z') RETURNING id",
                (email,),
            ).fetchone()
        return int(row[0])

    return await storage._db.run(insert)


async def test_spellings_of_one_address_find_one_account(storage: Storage) -> None:
    email = unique("victim")
    user = await storage.create_user(email, "hash", None)
    local, domain = email.split("@")
    for spelling in (
        local.replace("i", "\u0130", 1) + "@" + domain,
        email.upper(),
        f"  {email}  ",
        "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in local) + "@" + domain,
    ):
        found = await storage.get_credentials(spelling)
        assert found is not None, spelling
        assert found.user.id == user.id
        with pytest.raises(DuplicateEmailError):
            await storage.create_user(spelling, "hash", None)
    promoted = await storage.set_user_role(email.upper(), "installer")
    assert promoted is not None
    assert promoted.id == user.id


async def test_legacy_accounts_get_their_key_and_colliding_ones_keep_working(
    storage: Storage,
) -> None:
    tag = uuid.uuid4().hex[:8]
    # Distinct under the old lower(email) index, one key now (ß folds to ss).
    older = await insert_legacy_user(storage, f"STRASSE-{tag}@example.com")
    newer = await insert_legacy_user(storage, f"straße-{tag}@example.com")
    plain = await insert_legacy_user(storage, f"Parent-{tag}@example.com")
    await storage.migrate()  # every start gives key-less accounts their key
    by_variant = await storage.get_credentials(f"strasse-{tag}@EXAMPLE.com")
    assert by_variant is not None
    assert by_variant.user.id == older
    exact = await storage.get_credentials(f"straße-{tag}@example.com")
    assert exact is not None
    assert exact.user.id == newer  # not lost: found by its address exactly as registered
    found = await storage.get_credentials(f"parent-{tag}@example.com")
    assert found is not None
    assert found.user.id == plain
    with pytest.raises(DuplicateEmailError):
        await storage.create_user(f"Strasse-{tag}@example.com", "hash", None)
