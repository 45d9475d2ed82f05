"""`nursery-cloud collector|api|serve --help` list every setting the command reads, and the list
cannot fall behind the code: the keys the settings parsers really read are recorded and compared.
With no broker account set, the collector says it connects anonymously."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud import settings_help
from cloud.config import ApiSettings, CollectorSettings
from cloud.push.keys import generate_vapid_keys
from tests.harness.network import free_port
from tests.harness.processes import console_script

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


class RecordingEnv(dict[str, str]):
    """An environment that remembers every key looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings must be read by name, not by listing the environment")


def everything_set(tmp_path: Path) -> dict[str, str]:
    """Every optional branch taken, so every key the parsers know is read."""
    ca = tmp_path / "ca.pem"
    ca.write_text(CA)
    return {
        "DATABASE_URL": "sqlite:///x.db",
        "JWT_SECRET": "k3Jx9-qWm2Zr7Tb4Lc8Vn1Hy6Pd5Fs0Ga-Re2Uo9Ii",
        "MQTT_HOST": "broker",
        "MQTT_USERNAME": "svc.api",
        "MQTT_PASSWORD": "pw",
        "NURSERY_COLLECTOR_MQTT_USERNAME": "svc.collector",
        "NURSERY_COLLECTOR_MQTT_PASSWORD": "pw",
        "MOSQUITTO_PASSWORD_FILE": "/etc/mosquitto/passwd",
        "MOSQUITTO_PID_FILE": "/run/mosquitto.pid",
        "NURSERY_DEVICE_MQTT_HOST": "mqtt.example.org",
        "NURSERY_DEVICE_MQTT_CA_FILE": str(ca),
        "NURSERY_VAPID_PRIVATE_KEY": generate_vapid_keys().private_key,
        "NURSERY_VAPID_SUBJECT": "mailto:ops@example.org",
        "NURSERY_PUSH_ENDPOINT_HOSTS": "127.0.0.1",
        "NURSERY_PUSH_ALLOW_HTTP": "true",
    }


def test_collector_help_documents_every_key_the_collector_reads(tmp_path: Path) -> None:
    env = RecordingEnv(everything_set(tmp_path))
    CollectorSettings.from_env(env)
    documented = settings_help.documented(
        settings_help.DATABASE, settings_help.MQTT, settings_help.COLLECTOR
    )
    assert env.read <= documented, env.read - documented
    shown = subprocess.run(
        [console_script("nursery-cloud"), "collector", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for key in env.read:
        assert key in shown, key


def test_api_help_documents_every_key_the_api_reads(tmp_path: Path) -> None:
    env = RecordingEnv(everything_set(tmp_path))
    ApiSettings.from_env(env)
    documented = settings_help.documented(
        settings_help.DATABASE, settings_help.MQTT, settings_help.API
    )
    assert env.read <= documented, env.read - documented
    for command in ("api", "serve"):
        shown = subprocess.run(
            [console_script("nursery-cloud"), command, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for key in env.read:
            assert key in shown, (command, key)


def test_collector_without_an_account_warns_that_it_is_anonymous(
    tmp_path: Path, clean_env: None
) -> None:
    port = free_port()  # nothing listens there: the collector retries until stopped
    process = subprocess.Popen(
        [console_script("nursery-cloud"), "collector"],
        env={
            "PATH": str(Path(sys.executable).parent),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'nursery.db'}",
            "MQTT_PORT": str(port),
            "NURSERY_COLLECTOR_HTTP_PORT": "0",
        },
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "anonymously" in line:
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
    warning = next((line for line in seen if "anonymously" in line), None)
    assert warning is not None, "".join(seen)
    assert "WARNING" in warning
    assert f"127.0.0.1:{port}" in warning
    assert "MQTT_USERNAME is not set" in warning


@pytest.mark.parametrize("command", ["collector", "api", "serve"])
def test_help_names_the_broker_settings(command: str) -> None:
    shown = subprocess.run(
        [console_script("nursery-cloud"), command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for key in ("DATABASE_URL", "MQTT_HOST", "MQTT_USERNAME", "MQTT_PASSWORD"):
        assert key in shown
