"""Storage fixtures: every storage contract test runs against each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud.storage import Storage, open_storage

BACKENDS = ["postgres", "sqlite"]


@pytest.fixture(params=BACKENDS)
async def storage(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[Storage]:
    url = database_url if request.param == "postgres" else f"sqlite:///{tmp_path / 'nursery.db'}"
    store = await open_storage(url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()
