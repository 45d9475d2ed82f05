"""Onboarding end to end, every part a real process: an installer account (made with
``nursery-cloud user add``) logs in, ``nursery-edge setup`` provisions the device against the
API and writes its files, ``nursery-edge run`` connects with the new broker account, the parent
claims the device with the printed code, its readings appear in the parent's history,
``nursery-edge status`` shows the agent and ``nursery-edge test-alert`` reaches the parent as a
``TEST_ALERT``."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.api_process import running_api
from tests.harness.collector import CollectorProcess
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.processes import ManagedProcess, console_script
from tests.harness.waiting import wait_until

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
SECRET = "onboarding-e2e-secret-0123456789-abcdefghijklmn"
PASSWORD = "installerPassword123"


@pytest.fixture
def provisioning_api(
    database_url: str, mosquitto: MosquittoBroker, tmp_path: Path
) -> Iterator[str]:
    provisioning = {
        "MOSQUITTO_PASSWORD_FILE": str(mosquitto.password_file),
        "MOSQUITTO_PID_FILE": str(mosquitto.pid_file),
        "NURSERY_DEVICE_MQTT_HOST": mosquitto.host,
        "NURSERY_DEVICE_MQTT_PORT": str(mosquitto.port),
    }
    with running_api(database_url, SECRET, tmp_path, env=provisioning) as url:
        yield url


def _cli(
    *argv: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        input=stdin,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_installer_sets_up_a_device_that_the_parent_claims_and_sees(
    database_url: str,
    provisioning_api: str,
    start_collector: Callable[..., CollectorProcess],
    tmp_path: Path,
) -> None:
    api = provisioning_api
    installer_email = f"installer-{uuid.uuid4().hex[:8]}@example.com"
    added = _cli(
        console_script("nursery-cloud"),
        "user",
        "add",
        installer_email,
        "--role",
        "installer",
        "--password-stdin",
        env={"DATABASE_URL": database_url},
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert "role installer" in added.stdout
    start_collector(database_url, f"e2e-onboarding-{uuid.uuid4().hex[:6]}", "")

    http = httpx.Client(base_url=api, timeout=30)
    token = http.post("/auth/login", json={"email": installer_email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    config_dir, state_dir = tmp_path / "etc", tmp_path / "state"
    setup = _cli(
        console_script("nursery-edge"),
        "setup",
        "--yes",
        "--no-systemd",
        "--no-qr",
        "--cloud",
        api,
        "--config-dir",
        str(config_dir),
        "--state-dir",
        str(state_dir),
        "--sensor",
        "simulated",
        "--audio",
        "file",
        "--audio-file",
        str(AUDIO / "cry_donateacry.flac"),
        env={"NURSERY_INSTALLER_TOKEN": token.json()["access_token"]},
    )
    assert setup.returncode == 0, setup.stderr
    device_id = re.search(r"device:\s+(\S+)", setup.stdout).group(1)  # type: ignore[union-attr]
    code = re.search(r"Claim code for the parents' app: (\S+)", setup.stdout).group(1)  # type: ignore[union-attr]
    password = (config_dir / "broker-password").read_text().strip()
    assert password not in setup.stdout + setup.stderr, "the broker password is never printed"
    for secret_file in ("config.toml", "broker-password"):
        assert stat.S_IMODE((config_dir / secret_file).stat().st_mode) == 0o600

    # Speed the demo device up: readings every second instead of every ten.
    config_path = config_dir / "config.toml"
    config_path.write_text(config_path.read_text() + "\n[settings]\ntelemetry_interval_s = 1.0\n")
    agent = ManagedProcess(
        [console_script("nursery-edge"), "run", "--config", str(config_path)],
        {},
        tmp_path / "agent.log",
    )
    try:
        parent_email = f"parent-{uuid.uuid4().hex[:8]}@example.com"
        body = {"email": parent_email, "password": "parentPassword123"}
        assert http.post("/auth/register", json=body).status_code == 201
        parent = {
            "Authorization": f"Bearer {http.post('/auth/login', json=body).json()['access_token']}"
        }
        claimed = http.post("/devices/claim", headers=parent, json={"claim_code": code})
        assert claimed.status_code == 201, claimed.text
        assert claimed.json()["device_id"] == device_id

        def history() -> list[dict[str, object]]:
            response = http.get("/health/history", headers=parent)
            assert response.status_code == 200
            return [r for r in response.json() if r.get("device_id") == device_id]

        wait_until(lambda: len(history()) >= 3, timeout_s=60)
        assert all(r["temperature"] is not None for r in history())

        def status() -> str:
            shown = _cli(console_script("nursery-edge"), "status", "--config", str(config_path))
            assert shown.returncode == 0, shown.stdout + shown.stderr
            return shown.stdout

        # The agent rewrites its status every 5 s.
        wait_until(lambda: " - connected" in status() and "°C" in status(), timeout_s=15)
        assert device_id in status()

        sent = _cli(
            console_script("nursery-edge"),
            "test-alert",
            "--config",
            str(config_path),
            "--timeout",
            "30",
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "acknowledged by the broker" in sent.stdout

        def test_alerts() -> list[dict[str, object]]:
            response = http.get("/alerts", headers=parent)
            assert response.status_code == 200, response.text
            return [a for a in response.json() if a.get("kind") == "TEST_ALERT"]

        wait_until(lambda: len(test_alerts()) == 1, timeout_s=30)
    finally:
        assert agent.stop_cleanly(), agent.output()
    stopped = _cli(console_script("nursery-edge"), "status", "--config", str(config_path))
    assert stopped.returncode == 3, stopped.stdout
