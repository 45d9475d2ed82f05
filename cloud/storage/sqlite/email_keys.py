"""Gives accounts created before e-mail keys (migration 0011) their key, on every start."""

from __future__ import annotations

import sqlite3

from cloud.storage.emails import log_email_keys, plan_email_keys
from cloud.storage.sqlite.database import Transaction


def fill_email_keys(conn: sqlite3.Connection) -> None:
    """Keys computed in Python: SQLite's lower() folds ASCII only."""
    with Transaction(conn):
        missing = [
            (int(row["id"]), str(row["email"]))
            for row in conn.execute("SELECT id, email FROM users WHERE email_key IS NULL")
        ]
        if not missing:
            return
        taken = {
            str(row["email_key"])
            for row in conn.execute("SELECT email_key FROM users WHERE email_key IS NOT NULL")
        }
        assignments, collisions = plan_email_keys(missing, taken)
        conn.executemany(
            "UPDATE users SET email_key = ? WHERE id = ?",
            [(key, user_id) for user_id, key in assignments],
        )
    log_email_keys(assignments, collisions)
