"""Versioned SQL migrations for SQLite (``migrations/sqlite/NNNN_name.sql``), applied once each."""

from __future__ import annotations

import logging
import sqlite3
from importlib import resources

from cloud.storage.sqlite.database import Transaction

logger = logging.getLogger(__name__)


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    folder = resources.files("cloud.storage").joinpath("migrations", "sqlite")
    files = sorted((e for e in folder.iterdir() if e.name.endswith(".sql")), key=lambda e: e.name)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    )
    applied = []
    for entry in files:
        version = entry.name.removesuffix(".sql")
        with Transaction(conn):
            if conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone():
                continue
            logger.info("applying migration %s", version)
            # executescript would COMMIT our transaction; run the statements one by one.
            for statement in _statements(entry.read_text()):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
            applied.append(version)
    return applied


def _statements(script: str) -> list[str]:
    """Split a migration script at statement ends (our scripts have no ';' inside literals)."""
    statements, current = [], []
    for line in script.splitlines():
        if line.lstrip().startswith("--"):
            continue
        current.append(line)
        if sqlite3.complete_statement("\n".join(current)):
            statements.append("\n".join(current).strip())
            current = []
    return [s for s in statements if s]
