"""Writing a provisioned device's files: the config, the broker password, the CA, the unit.

Secrets go only into files of mode 0600 (written with that mode from the start, never
world-readable for an instant) and are never printed. The config is validated with the same
loader the daemon uses before setup reports success.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edge.config import AgentConfig, load_config
from edge.provisioning import DeviceIdentity

# Where the systemd unit is kept in a Nursery checkout (the installation guide installs from one).
UNIT_TEMPLATE = Path(__file__).resolve().parents[1] / "firmware_config" / "nursery-edge.service"
UNIT_NAME = "nursery-edge.service"


class InstallError(RuntimeError):
    """A file could not be written or the service not installed; the message says why."""


@dataclass(frozen=True, slots=True)
class DeviceChoices:
    """What the installer chose for this nursery's hardware."""

    state_dir: Path
    sensor: str = "dht22"
    pin: str = "D4"
    audio: str = "microphone"
    audio_device: str = ""
    audio_files: list[Path] = field(default_factory=list)
    # Overrides of the broker address the cloud announced (a LAN address, say).
    broker_host: str | None = None
    broker_port: int | None = None


def _toml(value: str | int | Path) -> str:
    if isinstance(value, int):
        return str(value)
    # A JSON string literal is a valid TOML basic string.
    return json.dumps(str(value))


def render_config(identity: DeviceIdentity, choices: DeviceChoices, config_dir: Path) -> str:
    lines = [
        "# Written by `nursery-edge setup`; every key is explained in",
        "# firmware_config/edge.example.toml. Check it with:",
        f"#   nursery-edge run --config {config_dir / 'config.toml'} --check-config",
        "",
        "[device]",
        f"id = {_toml(identity.device_id)}",
        f"state_dir = {_toml(choices.state_dir)}",
        "",
        "[broker]",
        f"host = {_toml(choices.broker_host or identity.broker_host)}",
        f"port = {_toml(choices.broker_port or identity.broker_port)}",
        f"username = {_toml(identity.mqtt_username)}",
        f"password_file = {_toml(config_dir / 'broker-password')}",
    ]
    if identity.ca_certificate:
        lines.append(f"ca_file = {_toml(config_dir / 'ca.crt')}")
    lines += ["", "[sensor]", f"kind = {_toml(choices.sensor)}"]
    if choices.sensor in ("dht22", "dht11"):
        lines.append(f"pin = {_toml(choices.pin)}")
    lines += ["", "[audio]", f"source = {_toml(choices.audio)}"]
    if choices.audio == "microphone" and choices.audio_device:
        lines.append(f"device = {_toml(choices.audio_device)}")
    if choices.audio == "file":
        lines.append("files = [" + ", ".join(_toml(f.resolve()) for f in choices.audio_files) + "]")
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # An existing file keeps its old mode through O_TRUNC: make it private before the secret
    # goes in, not after.
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def write_device_files(
    identity: DeviceIdentity, choices: DeviceChoices, config_dir: Path, owner: str | None
) -> tuple[Path, AgentConfig]:
    """Write config.toml, broker-password and ca.crt; returns the config path and the loaded
    config. ``owner``: the user the daemon runs as (files are chowned to it when root)."""
    try:
        config_dir.mkdir(parents=True, exist_ok=True)
        choices.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config_path = config_dir / "config.toml"
        _write_private(config_dir / "broker-password", identity.mqtt_password + "\n")
        written = [config_dir / "broker-password", config_path]
        if identity.ca_certificate:
            (config_dir / "ca.crt").write_text(identity.ca_certificate)
            written.append(config_dir / "ca.crt")
        _write_private(config_path, render_config(identity, choices, config_dir))
        if owner is not None:
            for path in [*written, choices.state_dir]:
                shutil.chown(path, owner, owner)
    except (OSError, LookupError) as exc:
        raise InstallError(f"cannot write the device's files in {config_dir}: {exc}") from exc
    return config_path, load_config(config_path)


DEFAULT_STATE_DIR = Path("/var/lib/nursery-edge")  # the unit's StateDirectory=


def systemd_quote(word: str) -> str:
    """One command-line word as systemd reads it: quoted when it has spaces or quotes, and
    ``%`` doubled (systemd expands %-specifiers even inside quotes)."""
    escaped = word.replace("%", "%%")
    if escaped and not any(ch in escaped for ch in " \t\"'\\"):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_unit(
    template: str,
    command: list[str],
    config_path: Path,
    user: str,
    state_dir: Path = DEFAULT_STATE_DIR,
) -> str:
    """The shipped unit with this installation's command, config, user and state folder."""
    exec_start = " ".join(systemd_quote(w) for w in [*command, "run", "--config", str(config_path)])
    lines = []
    for line in template.splitlines():
        if line.startswith("ExecStart="):
            line = f"ExecStart={exec_start}"
        elif line.startswith("User="):
            line = f"User={user}"
        elif line.startswith("Group="):
            line = f"Group={user}"
        lines.append(line)
        if line.startswith("StateDirectory=") and state_dir != DEFAULT_STATE_DIR:
            # ProtectSystem=strict makes everything else read-only for the agent.
            lines.append(f"ReadWritePaths={systemd_quote(str(state_dir))}")
    return "\n".join(lines) + "\n"


def ensure_service_user(user: str) -> None:
    """Create the unprivileged system user the daemon runs as (in the audio and gpio groups)."""
    if _user_exists(user):
        return
    groups = [g for g in ("audio", "gpio") if _group_exists(g)]
    command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
    if groups:
        command += ["--groups", ",".join(groups)]
    _run([*command, user])


def install_unit(
    command: list[str],
    config_path: Path,
    user: str,
    unit_dir: Path,
    template_path: Path = UNIT_TEMPLATE,
    start: bool = True,
    state_dir: Path = DEFAULT_STATE_DIR,
) -> Path:
    """Install the systemd unit, enable it and (re)start the daemon."""
    try:
        template = template_path.read_text()
    except OSError as exc:
        raise InstallError(
            f"the unit template {template_path} is missing ({exc.strerror}); install from a "
            "Nursery checkout (firmware_config/README.md) or pass --no-systemd"
        ) from exc
    unit_path = unit_dir / UNIT_NAME
    unit_path.write_text(render_unit(template, command, config_path, user, state_dir))
    if start:
        _run(["systemctl", "daemon-reload"])
        _run(["systemctl", "enable", "--now", UNIT_NAME])
        _run(["systemctl", "restart", UNIT_NAME])
    return unit_path


def _user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _group_exists(group: str) -> bool:
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    except FileNotFoundError as exc:
        raise InstallError(f"{command[0]} not found: is this a systemd-based Linux?") from exc
    except subprocess.CalledProcessError as exc:
        raise InstallError(f"`{' '.join(command)}` failed: {exc.stderr.strip()}") from exc
