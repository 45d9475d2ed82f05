"""A wrong DATABASE_URL stops every server command at once with one line saying what is wrong,
naming DATABASE_URL without its password (not ten seconds of pool warnings ending in "pool
initialization incomplete", nor a web server's start-up traceback)."""

from __future__ import annotations

import os
import subprocess
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.harness.processes import console_script

PASSWORD = "not-for-logs-" + uuid.uuid4().hex[:8]
# Below the pool's own 10 s connect timeout: the answer must not wait for it.
PATIENCE_S = 8.0


def _missing_database(database_url: str) -> tuple[str, str]:
    """The real server's URL with a database that does not exist, and a password in it."""
    parts = urlsplit(database_url)
    name = f"nc_missing_{uuid.uuid4().hex[:8]}"
    netloc = f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{name}")), name


@pytest.mark.parametrize("command", ["migrate", "collector", "api", "serve"])
def test_wrong_database_url_is_one_clear_line(
    database_url: str, command: str, clean_env: None
) -> None:
    url, name = _missing_database(database_url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "JWT_SECRET": "s" * 48,
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": "1",
        "NURSERY_COLLECTOR_MQTT_USERNAME": "svc.server.collector",
        "NURSERY_COLLECTOR_MQTT_PASSWORD": "unused",
    }
    args = [console_script("nursery-cloud"), command]
    if command in ("api", "serve"):
        args += ["--port", "1"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=PATIENCE_S)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f'database "{name}" does not exist' in lines[0]
    assert "DATABASE_URL=" in lines[0]
    assert PASSWORD not in done.stderr + done.stdout
