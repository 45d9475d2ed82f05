"""End-to-end fixtures: real processes only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.network import free_port
from tests.harness.processes import ManagedProcess, console_script

SECRET = "e2e-api-process-secret-0123456789-abcdefghijklmn"


@pytest.fixture
def api_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """One `nursery-cloud api` process on the session database (no broker settings)."""
    port = free_port()
    process = ManagedProcess(
        [console_script("nursery-cloud"), "api", "--port", str(port)],
        {"DATABASE_URL": database_url, "JWT_SECRET": SECRET,
         "NURSERY_UPLOAD_DIR": str(tmp_path / "uploads")},
        tmp_path / "api.log",
    )  # fmt: skip
    try:
        process.wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        assert process.stop_cleanly(), process.output()
