"""Devices reach the broker over TLS with certificates from ``nursery-cloud certs``: the
device's own MQTT client verifies the broker against the development CA, and refuses a broker
signed by another CA."""

from __future__ import annotations

import getpass
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.publish.mqtt_client import BrokerSettings, new_client
from tests.harness.mosquitto import MOSQUITTO_DIR, MosquittoBroker
from tests.harness.network import free_port, wait_for_port


def _make_certificates(out: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloud.cli",
            "certs",
            "--out",
            str(out),
            "--broker-name",
            "127.0.0.1",
            "--broker-name",
            "localhost",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout


@pytest.fixture
def tls_broker(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[tuple[int, Path]]:
    """A broker with only a TLS listener, the project's ACL and the test accounts (read when
    it starts)."""
    mosquitto.add_user("tls-device-1", "tls-device-password")
    certs = tmp_path / "certs"
    _make_certificates(certs)
    port = free_port()
    config = tmp_path / "tls.conf"
    config.write_text(
        "\n".join(
            [
                "per_listener_settings false",
                f"user {getpass.getuser()}",
                "allow_anonymous false",
                f"password_file {mosquitto.password_file}",
                f"acl_file {MOSQUITTO_DIR / 'acl'}",
                f"listener {port} 127.0.0.1",
                f"cafile {certs / 'ca.crt'}",
                f"certfile {certs / 'broker.crt'}",
                f"keyfile {certs / 'broker.key'}",
                "tls_version tlsv1.2",
                "",
            ]
        )
    )
    process = subprocess.Popen(
        ["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        assert wait_for_port(port, 10), "TLS broker did not start"
        yield port, certs
    finally:
        process.terminate()
        process.wait(10)


def _connect(settings: BrokerSettings) -> str:
    client = new_client("tls-probe", settings)
    result: list[str] = []
    done = threading.Event()

    def on_connect(*args: object) -> None:
        result.append(str(args[3]))
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(settings.host, settings.port)
    except (OSError, mqtt.WebsocketConnectionError) as exc:
        return f"error: {exc}"
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0] if result else "no CONNACK"


def test_device_connects_over_tls_with_the_development_ca(tls_broker: tuple[int, Path]) -> None:
    port, certs = tls_broker
    ok = BrokerSettings(
        "127.0.0.1", port, "tls-device-1", "tls-device-password", ca_file=str(certs / "ca.crt")
    )
    assert _connect(ok) == "Success"


def test_a_broker_not_signed_by_the_configured_ca_is_refused(
    tls_broker: tuple[int, Path], tmp_path: Path
) -> None:
    port, _ = tls_broker
    # A CA that did not sign the broker's certificate: the handshake must fail.
    other = tmp_path / "other-ca"
    _make_certificates(other)
    settings = BrokerSettings("127.0.0.1", port, "x", "y", ca_file=str(other / "ca.crt"))
    assert "CERTIFICATE_VERIFY_FAILED" in _connect(settings)
