"""Direct reads of the test database, to check what the system under test stored."""

from __future__ import annotations

import psycopg


def stored_seqs(database_url: str, device_id: str) -> list[int]:
    """Every stored reading's seq for the device, duplicates included, in order."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq FROM readings WHERE device_id = %s ORDER BY seq", (device_id,)
        ).fetchall()
    return [row[0] for row in rows]


def count_dead_letters(database_url: str, topic: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE topic = %s", (topic,)
        ).fetchone()
    return int(row[0]) if row else 0
