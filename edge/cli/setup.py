"""``nursery-edge setup``: provision this device against the cloud and install the agent.

Asks the cloud for a new device identity (an installer account is needed), writes the config
(mode 0600; the broker password in its own 0600 file, never printed), installs and starts the
systemd unit, and prints the claim code - with a QR code - for the parents' app. Interactive
with defaults at a terminal; fully scriptable with flags and ``--yes``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from edge.config import ConfigError
from edge.install import (
    DeviceChoices,
    InstallError,
    ensure_service_user,
    install_unit,
    write_device_files,
)
from edge.provisioning import CloudClient, DeviceIdentity, ProvisioningError

EPILOG = """
examples:
  # at the device, over SSH, answering questions:
  sudo nursery-edge setup
  # fully scripted (the token from `POST /auth/login` of an installer account):
  sudo NURSERY_INSTALLER_TOKEN=eyJ... nursery-edge setup --yes \\
      --cloud https://nursery.example.org --sensor dht22 --pin D4 --audio microphone
  # try it on a PC: simulated sensor, a recording instead of the microphone, no systemd
  nursery-edge setup --yes --cloud http://127.0.0.1:8000 --email ana@example.org \\
      --config-dir ./device/etc --state-dir ./device/state --no-systemd \\
      --sensor simulated --audio file --audio-file cry.flac

The installer password is read from NURSERY_INSTALLER_PASSWORD or asked for; a token from
NURSERY_INSTALLER_TOKEN or --token. Exit status: 0 set up, 1 the cloud or the system refused
(the message says what to do), 2 invalid input.
"""

SENSORS = ("dht22", "dht11", "simulated", "none")
AUDIO_SOURCES = ("microphone", "file", "none")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "setup",
        help="provision this device and install the agent (installer account needed)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cloud = parser.add_argument_group("cloud")
    cloud.add_argument(
        "--cloud", metavar="URL", help="the Nursery API, e.g. https://nursery.example.org"
    )
    cloud.add_argument(
        "--cloud-ca", metavar="FILE", help="CA certificate of the API's TLS, if private"
    )
    cloud.add_argument("--email", help="installer account e-mail (when no token is given)")
    cloud.add_argument("--token", help="installer access token (or NURSERY_INSTALLER_TOKEN)")
    device = parser.add_argument_group("device")
    device.add_argument("--sensor", choices=SENSORS, help="climate sensor (default: dht22)")
    device.add_argument("--pin", help="sensor data pin, board name (default: D4 = GPIO4)")
    device.add_argument("--audio", choices=AUDIO_SOURCES, help="audio source (default: microphone)")
    device.add_argument("--audio-device", default="", help="microphone name or index")
    device.add_argument(
        "--audio-file",
        action="append",
        type=Path,
        default=[],
        help="with --audio file: a recording to replay (repeatable)",
    )
    device.add_argument("--broker-host", help="override the broker address the cloud announces")
    device.add_argument("--broker-port", type=int, help="override the broker port")
    install = parser.add_argument_group("installation")
    install.add_argument(
        "--config-dir", type=Path, default=Path("/etc/nursery-edge"), help="(default: %(default)s)"
    )
    install.add_argument(
        "--state-dir",
        type=Path,
        default=Path("/var/lib/nursery-edge"),
        help="(default: %(default)s)",
    )
    install.add_argument(
        "--no-systemd",
        dest="systemd",
        action="store_false",
        help="only write the files; do not install or start the service",
    )
    install.add_argument("--service-user", default="nursery", help="(default: %(default)s)")
    install.add_argument(
        "--unit-dir", type=Path, default=Path("/etc/systemd/system"), help="(default: %(default)s)"
    )
    install.add_argument("--no-qr", dest="qr", action="store_false", help="no QR code")
    install.add_argument("--force", action="store_true", help="replace an existing configuration")
    install.add_argument(
        "--yes", "-y", action="store_true", help="never ask; use flags and defaults"
    )
    parser.set_defaults(handler=run)


class _Asker:
    """Asks at a terminal unless --yes; otherwise takes the default."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def __call__(self, question: str, default: str | None, choices: tuple[str, ...] = ()) -> str:
        if not self.interactive:
            if default is None:
                raise _InputError(f"{question}: no value given (pass it as a flag)")
            return default
        hint = f" [{'/'.join(choices)}]" if choices else ""
        shown = f" (default {default})" if default else ""
        while True:
            answer = input(f"{question}{hint}{shown}: ").strip() or (default or "")
            if answer and (not choices or answer in choices):
                return answer
            print(f"  please answer one of: {', '.join(choices)}" if choices else "  required")


class _InputError(ValueError):
    pass


def _token(args: argparse.Namespace, ask: _Asker, client: CloudClient) -> str:
    token = args.token or os.environ.get("NURSERY_INSTALLER_TOKEN", "").strip()
    if token:
        return str(token)
    email = args.email or ask("installer e-mail", None)
    password = os.environ.get("NURSERY_INSTALLER_PASSWORD", "")
    if not password:
        if not ask.interactive:
            raise _InputError("no installer token or password: set NURSERY_INSTALLER_TOKEN")
        password = getpass.getpass("installer password: ")
    return client.login(email, password)


def _choices(args: argparse.Namespace, ask: _Asker) -> DeviceChoices:
    sensor = args.sensor or ask("climate sensor", "dht22", SENSORS)
    pin = args.pin or (ask("sensor data pin", "D4") if sensor in ("dht22", "dht11") else "D4")
    audio = args.audio or ask("audio source", "microphone", AUDIO_SOURCES)
    if audio == "file" and not args.audio_file:
        raise _InputError("--audio file needs at least one --audio-file")
    for path in args.audio_file:
        if not path.is_file():
            raise _InputError(f"--audio-file {path}: no such file")
    return DeviceChoices(
        state_dir=args.state_dir.resolve(),
        sensor=sensor,
        pin=pin,
        audio=audio,
        audio_device=args.audio_device,
        audio_files=list(args.audio_file),
        broker_host=args.broker_host,
        broker_port=args.broker_port,
    )


def _command() -> list[str]:
    """How systemd starts this installation's agent (the venv it was installed into)."""
    found = shutil.which("nursery-edge")
    return [found] if found else [sys.executable, "-m", "edge.cli"]


def run(args: argparse.Namespace) -> int:
    ask = _Asker(interactive=not args.yes and sys.stdin.isatty())
    config_dir: Path = args.config_dir.resolve()
    if (config_dir / "config.toml").exists() and not args.force:
        print(
            f"nursery-edge setup: {config_dir / 'config.toml'} exists: this device is set up "
            "already. Pass --force to provision it again (it gets a new device id; revoke the "
            "old one).",
            file=sys.stderr,
        )
        return 2
    try:
        cloud_url = args.cloud or ask("Nursery cloud URL", None)
        choices = _choices(args, ask)
        client = CloudClient(cloud_url, args.cloud_ca)
        identity = client.provision(_token(args, ask, client))
    except _InputError as exc:
        print(f"nursery-edge setup: {exc}", file=sys.stderr)
        return 2
    except ProvisioningError as exc:
        print(f"nursery-edge setup: {exc}", file=sys.stderr)
        return 1
    try:
        owner = None
        if args.systemd:
            ensure_service_user(args.service_user)
            owner = args.service_user
        config_path, _config = write_device_files(identity, choices, config_dir, owner)
        service = "not installed (--no-systemd)"
        if args.systemd:
            unit = install_unit(
                _command(), config_path, args.service_user, args.unit_dir,
                state_dir=choices.state_dir,
            )  # fmt: skip
            service = f"{unit.name} enabled and started (journalctl -u {unit.stem} -f)"
    except (InstallError, ConfigError) as exc:
        print(
            f"nursery-edge setup: device {identity.device_id} was provisioned but {exc}",
            file=sys.stderr,
        )
        return 1
    _report(identity, config_path, service, args.qr)
    return 0


def _report(identity: DeviceIdentity, config_path: Path, service: str, qr: bool) -> None:
    print(f"device:   {identity.device_id}")
    print(f"broker:   {identity.broker_host}:{identity.broker_port} as {identity.mqtt_username}")
    print(f"config:   {config_path} (mode 0600; the broker password is beside it, never shown)")
    print(f"service:  {service}")
    print(f"check it: nursery-edge check --config {config_path}")
    print()
    print(f"Claim code for the parents' app: {identity.claim_code}")
    print(f"(single use, valid until {identity.claim_expires_at:%Y-%m-%d %H:%M} UTC)")
    if qr:
        import segno  # lazy: only setup draws QR codes

        segno.make(identity.claim_code, error="m").terminal(compact=True)
