"""What `nursery-edge setup` writes: a config the daemon accepts, private secrets, the unit."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.install import (
    UNIT_TEMPLATE,
    DeviceChoices,
    InstallError,
    install_unit,
    render_unit,
    write_device_files,
)
from edge.local_status import (
    daemon_is_running,
    read_status,
    request_test_alert,
    take_test_alert_request,
    write_status,
)
from edge.provisioning import CloudClient, DeviceIdentity, ProvisioningError

IDENTITY = DeviceIdentity(
    device_id="nursery-abc123xyz0",
    mqtt_username="nursery-abc123xyz0",
    mqtt_password="s3cret-broker-password",
    claim_code="ABCDE-12345",
    claim_expires_at=datetime(2026, 12, 7, tzinfo=UTC),
    broker_host="mqtt.example.org",
    broker_port=8883,
    ca_certificate="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
)


def test_written_config_loads_and_keeps_the_password_out_of_it(tmp_path: Path) -> None:
    clip = tmp_path / "cry.flac"
    clip.write_bytes(b"")
    choices = DeviceChoices(
        state_dir=tmp_path / "state", sensor="simulated", audio="file", audio_files=[clip]
    )
    path, config = write_device_files(IDENTITY, choices, tmp_path / "etc", owner=None)

    assert config.device.id == IDENTITY.device_id
    assert config.broker.host == "mqtt.example.org"
    assert config.broker.port == 8883
    assert config.broker_password() == "s3cret-broker-password"
    assert config.broker.ca_file == tmp_path / "etc" / "ca.crt"
    assert config.sensor.kind == "simulated"
    assert config.audio.files == [clip.resolve()]
    assert "s3cret" not in path.read_text()
    for name in ("config.toml", "broker-password"):
        assert stat.S_IMODE((tmp_path / "etc" / name).stat().st_mode) == 0o600
    assert (tmp_path / "state").is_dir()


def test_broker_address_can_be_overridden_for_a_lan(tmp_path: Path) -> None:
    choices = DeviceChoices(
        state_dir=tmp_path / "s",
        sensor="dht22",
        pin="D17",
        audio="none",
        broker_host="192.168.1.10",
        broker_port=1883,
    )
    _, config = write_device_files(IDENTITY, choices, tmp_path / "etc", owner=None)
    assert (config.broker.host, config.broker.port) == ("192.168.1.10", 1883)
    assert config.sensor.pin == "D17"


def test_unit_runs_the_installed_agent_with_the_written_config() -> None:
    unit = render_unit(
        UNIT_TEMPLATE.read_text(),
        ["/opt/nursery/venv/bin/nursery-edge"],
        Path("/etc/nursery-edge/config.toml"),
        "nursery",
    )
    assert (
        "ExecStart=/opt/nursery/venv/bin/nursery-edge run --config /etc/nursery-edge/config.toml"
        in unit.splitlines()
    )
    assert "User=nursery" in unit.splitlines()
    assert "WatchdogSec=60" in unit.splitlines()


def test_unit_quotes_odd_paths_and_opens_a_custom_state_folder() -> None:
    unit = render_unit(
        UNIT_TEMPLATE.read_text(),
        ["/opt/my venv/bin/python", "-m", "edge.cli"],
        Path("/etc/nursery 100%/config.toml"),
        "nursery",
        Path("/srv/nursery state"),
    )
    assert (
        'ExecStart="/opt/my venv/bin/python" -m edge.cli run --config '
        '"/etc/nursery 100%%/config.toml"' in unit.splitlines()
    )
    assert 'ReadWritePaths="/srv/nursery state"' in unit.splitlines()
    default = render_unit(UNIT_TEMPLATE.read_text(), ["x"], Path("/c.toml"), "nursery")
    assert "ReadWritePaths" not in default, "the StateDirectory= is writable already"


def test_missing_unit_template_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="--no-systemd"):
        install_unit(["x"], tmp_path / "c.toml", "nursery", tmp_path, tmp_path / "missing", False)


def test_cloud_url_must_be_http() -> None:
    with pytest.raises(ProvisioningError, match="https://"):
        CloudClient("nursery.example.org")


def test_unreachable_cloud_is_explained() -> None:
    client = CloudClient("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(ProvisioningError, match="cannot reach http://127\\.0\\.0\\.1:9"):
        client.provision("token")


def test_status_file_and_test_alert_requests(tmp_path: Path) -> None:
    assert read_status(tmp_path) is None
    assert not daemon_is_running(None)
    write_status(tmp_path, {"pid": os.getpid(), "updated_at_epoch": 1000.0})
    document = read_status(tmp_path)
    assert daemon_is_running(document, now=1001.0)
    assert not daemon_is_running(document, now=1000.0 + 60), "stale status: not running"
    assert not daemon_is_running(document, now=990.0), "a status from the future is not fresh"
    assert take_test_alert_request(tmp_path) is None
    old_umask = os.umask(0o077)  # root's umask on some systems
    try:
        request_test_alert(tmp_path, "r0")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "requests" / "test-alert").stat().st_mode) == 0o644
    assert take_test_alert_request(tmp_path) == "r0"
    request_test_alert(tmp_path, "r1")
    assert take_test_alert_request(tmp_path) == "r1"
    assert take_test_alert_request(tmp_path) is None, "a request is served once"
