"""Several processes starting at once (two API processes, a collector) migrate one database
safely: each migration is applied exactly once and nobody fails - on plain PostgreSQL and on
TimescaleDB, whose migration and policies take locks of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from cloud.storage import open_storage
from cloud.storage.postgres.store import PostgresStorage
from cloud.storage.postgres.timescale import TimescalePolicies
from tests.harness.postgres import database_on, fresh_database

RESTARTS = 3


@pytest.fixture(params=["postgres", "timescaledb"])
def fresh_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on plain PostgreSQL or on the TimescaleDB server."""
    if request.param == "postgres":
        with fresh_database() as url:
            yield url
    else:
        with database_on(request.getfixturevalue("timescaledb_server_url")) as url:
            yield url


async def test_concurrent_starts_migrate_a_fresh_database_once(fresh_url: str) -> None:
    stores = [await open_storage(fresh_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(store.migrate() for store in stores))
        # More rounds of starts, as when the API restarts beside a running collector (on
        # TimescaleDB, while the scheduler runs the policy jobs the first round added).
        again = [
            await asyncio.gather(*(store.migrate() for store in stores)) for _ in range(RESTARTS)
        ]
    finally:
        for store in stores:
            await store.close()
    applied = [version for result in results for version in result]
    assert applied, "nothing was applied"
    assert len(applied) == len(set(applied)), f"a migration ran twice: {results}"
    assert again == [[[]] * len(stores)] * RESTARTS
    with psycopg.connect(fresh_url) as conn:
        recorded = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    assert sorted(recorded) == sorted(applied)


def _policy_jobs(url: str) -> list[tuple[int, str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT job_id, proc_name, hypertable_name, config::text"
            " FROM timescaledb_information.jobs"
            " WHERE proc_name IN ('policy_compression', 'policy_retention') ORDER BY job_id"
        ).fetchall()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


async def test_a_restart_leaves_running_policy_jobs_alone(timescaledb_url: str) -> None:
    """Every start used to remove and re-add the policies, which deadlocked against a policy
    job the scheduler was running; an unchanged setting now touches no job."""
    store = await open_storage(timescaledb_url)
    try:
        await store.migrate()
        before = _policy_jobs(timescaledb_url)
        await store.migrate()
        after = _policy_jobs(timescaledb_url)
    finally:
        await store.close()
    assert len(before) == 4
    assert after == before


async def test_changed_policy_settings_replace_only_those_policies(timescaledb_url: str) -> None:
    store = await open_storage(timescaledb_url)
    try:
        await store.migrate()
        before = _policy_jobs(timescaledb_url)
    finally:
        await store.close()
    changed = TimescalePolicies(compress_after=timedelta(days=3), retain_for=timedelta(days=730))
    store = await PostgresStorage.open(timescaledb_url, changed)
    try:
        await store.migrate()
        after = _policy_jobs(timescaledb_url)
    finally:
        await store.close()
        # Leave the session's database with the default policies for the tests after this.
        restore = await open_storage(timescaledb_url)
        await restore.migrate()
        await restore.close()
    retention = [job for job in before if job[1] == "policy_retention"]
    assert [job for job in after if job[1] == "policy_retention"] == retention
    compression = [job for job in after if job[1] == "policy_compression"]
    assert len(compression) == 2
    assert all('"compress_after": "3 days"' in job[3] for job in compression)
