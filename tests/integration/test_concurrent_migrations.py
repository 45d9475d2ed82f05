"""Several processes starting at once (two API processes, a collector) migrate one database
safely: each migration is applied exactly once and nobody fails."""

from __future__ import annotations

import asyncio

from cloud.storage import open_storage
from tests.harness.postgres import fresh_database


async def test_concurrent_starts_migrate_a_fresh_database_once() -> None:
    with fresh_database() as url:
        stores = [await open_storage(url) for _ in range(4)]
        try:
            results = await asyncio.gather(*(store.migrate() for store in stores))
        finally:
            for store in stores:
                await store.close()
    applied = [version for result in results for version in result]
    assert applied, "nothing was applied"
    assert len(applied) == len(set(applied)), f"a migration ran twice: {results}"
