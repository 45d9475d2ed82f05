"""The README's first command: `nursery-cloud demo` starts a broker, the API + collector on
SQLite and two simulated devices replaying real audio through the real detector; a cry alert
comes out of the replayed crying; Ctrl-C (SIGINT) stops everything cleanly; a second start
resumes the same history."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from cloud.demo.state import DEMO_EMAIL, DEMO_PASSWORD
from tests.harness.network import free_port
from tests.harness.processes import console_script
from tests.harness.waiting import wait_until


class DemoProcess:
    def __init__(self, state_dir: Path, log: Path) -> None:
        self.api_port, self.mqtt_port = free_port(), free_port()
        self._log = log.open("w")
        self.log_path = log
        self.process = subprocess.Popen(
            [
                console_script("nursery-cloud"),
                "--log-level",
                "WARNING",
                "demo",
                "--state-dir",
                str(state_dir),
                "--api-port",
                str(self.api_port),
                "--mqtt-port",
                str(self.mqtt_port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=10)
        self._token: str | None = None

    def output(self) -> str:
        return self.log_path.read_text()

    def answers(self) -> bool:
        assert self.process.poll() is None, self.output()
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def _get(self, path: str) -> object:
        if self._token is None:
            login = self.http.post(
                "/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
            )
            assert login.status_code == 200, login.text
            self._token = login.json()["access_token"]
        response = self.http.get(path, headers={"Authorization": f"Bearer {self._token}"})
        assert response.status_code == 200, response.text
        return response.json()

    def cry_alerts(self) -> int:
        alerts = self._get("/alerts?kind=CRY_DETECTED")
        assert isinstance(alerts, list)
        return len(alerts)

    def readings(self) -> int:
        stats = self._get("/health/stats")
        assert isinstance(stats, dict)
        return int(stats["total_records"])

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=45)
        finally:
            self._log.close()
            self.http.close()


@pytest.mark.slow
def test_the_demo_raises_a_cry_alert_stops_on_ctrl_c_and_resumes(tmp_path: Path) -> None:
    state_dir = tmp_path / "demo"
    demo = DemoProcess(state_dir, tmp_path / "demo-1.log")
    try:
        wait_until(demo.answers, timeout_s=90)
        wait_until(lambda: demo.cry_alerts() >= 1, timeout_s=90)
        # A cry event's batch is committed at once, a reading's within the batch delay: on a
        # loaded machine the alert can be there before the first reading is.
        wait_until(lambda: demo.readings() > 0, timeout_s=30)
        readings_before = demo.readings()
        page = demo.http.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"], "the dashboard is served"
        wait_until(lambda: "readings stored:" in demo.output(), timeout_s=30)  # live progress
    finally:
        exit_code = demo.interrupt()
    output = demo.output()
    assert exit_code == 0, output
    assert f"dashboard:  http://127.0.0.1:{demo.api_port}/" in output
    assert f"API docs:   http://127.0.0.1:{demo.api_port}/docs" in output
    assert f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}" in output
    assert "readings stored:" in output
    assert "demo stopped" in output
    assert "Traceback" not in output

    again = DemoProcess(state_dir, tmp_path / "demo-2.log")
    try:
        wait_until(again.answers, timeout_s=90)
        assert again.readings() >= readings_before, "the second start keeps the history"
        assert again.cry_alerts() >= 1
    finally:
        assert again.interrupt() == 0, again.output()
