"""End-to-end fixtures: real processes only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.api_process import running_api

SECRET = "e2e-api-process-secret-0123456789-abcdefghijklmn"


@pytest.fixture
def api_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """One `nursery-cloud api` process on the session database (no broker settings)."""
    with running_api(database_url, SECRET, tmp_path) as url:
        yield url
