"""The operator's onboarding commands of ``nursery-cloud``: accounts, devices, broker, certs.

``cloud.cli`` owns the parser's top level; this module adds ``user``, ``device add|revoke``
and ``certs`` to it and runs them (``broker``: ``cloud.cli.broker``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloud.api.security import PasswordHasher
from cloud.broker.certificates import issue_certificate, load_or_create_authority
from cloud.config import ConfigError, ProvisioningSettings
from cloud.provisioning import ProvisioningError, provision_device, revoke_device
from cloud.storage import DuplicateEmailError, open_storage
from cloud.storage.records import USER_ROLES, UserRole
from models.contract import validate_device_id

MIN_PASSWORD_LENGTH = 10


class OperatorError(RuntimeError):
    """The command cannot be done; the message says what to change (exit status 2)."""


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise ConfigError("DATABASE_URL is required but not set")
    return url


def _provisioning() -> ProvisioningSettings:
    settings = ProvisioningSettings.from_env(os.environ)
    if settings is None:
        raise ConfigError(
            "MOSQUITTO_PASSWORD_FILE is required but not set (with MOSQUITTO_PID_FILE and "
            "NURSERY_DEVICE_MQTT_HOST): devices get their broker account there"
        )
    return settings


def read_new_password(from_stdin: bool, what: str) -> str:
    """A new password from one line of stdin, or typed twice at a terminal."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"{what}: ")
        if getpass.getpass(f"{what} again: ") != password:
            raise OperatorError("the two passwords differ")
    else:
        raise OperatorError("no terminal to type the password in: pass --password-stdin")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


# --- user ------------------------------------------------------------------------------------


async def add_user(email: str, name: str | None, role: UserRole, password: str) -> int:
    storage = await open_storage(_database_url())
    try:
        await storage.migrate()
        try:
            user = await storage.create_user(email, PasswordHasher().hash(password), name, role)
        except DuplicateEmailError:
            raise OperatorError(
                f"an account with e-mail {email!r} exists; change its role with "
                f"`nursery-cloud user set-role {email} {role}`"
            ) from None
    finally:
        await storage.close()
    print(f"account {user.email} created (id {user.id}, role {user.role})")
    return 0


async def set_role(email: str, role: UserRole) -> int:
    storage = await open_storage(_database_url())
    try:
        await storage.migrate()
        user = await storage.set_user_role(email, role)
    finally:
        await storage.close()
    if user is None:
        raise OperatorError(f"no account with e-mail {email!r}")
    print(f"account {user.email} now has role {user.role}")
    return 0


# --- device ----------------------------------------------------------------------------------


async def add_device(installer_email: str | None, as_json: bool) -> int:
    settings = _provisioning()
    storage = await open_storage(_database_url())
    try:
        await storage.migrate()
        installer_id = None
        if installer_email is not None:
            credentials = await storage.get_credentials(installer_email)
            if credentials is None:
                raise OperatorError(f"no account with e-mail {installer_email!r}")
            installer_id = credentials.user.id
        try:
            device = await provision_device(storage, settings, installer_id)
        except ProvisioningError as exc:
            raise OperatorError(str(exc)) from None
    finally:
        await storage.close()
    if as_json:
        document: dict[str, Any] = {
            "device_id": device.device_id,
            "mqtt_username": device.mqtt_username,
            "mqtt_password": device.mqtt_password,
            "claim_code": device.claim_code,
            "claim_expires_at": device.claim_expires_at.isoformat(),
            "broker_host": device.broker_host,
            "broker_port": device.broker_port,
        }
        print(json.dumps(document, indent=2))
        return 0
    # Shown once: the broker keeps only a hash of the password, the database one of the code.
    print(f"device id:       {device.device_id}")
    print(f"broker:          {device.broker_host}:{device.broker_port}")
    print(f"broker user:     {device.mqtt_username}")
    print(f"broker password: {device.mqtt_password}   (shown once; put it on the device only)")
    print(
        f"claim code:      {device.claim_code}   "
        f"(single use, valid until {device.claim_expires_at:%Y-%m-%d %H:%M} UTC)"
    )
    return 0


async def revoke(device_id: str) -> int:
    settings = _provisioning()
    storage = await open_storage(_database_url())
    try:
        await storage.migrate()
        try:
            found = await revoke_device(storage, settings, device_id, None)
        except ProvisioningError as exc:
            raise OperatorError(str(exc)) from None
    finally:
        await storage.close()
    if not found:
        # The broker account, if any, is gone all the same.
        raise OperatorError(f"no device {device_id!r} in the database (broker access removed)")
    print(f"device {device_id} revoked: its broker account is removed and it was disconnected")
    return 0


# --- certs -----------------------------------------------------------------------------------


def make_certificates(out: Path, broker_names: list[str], device_ids: list[str]) -> int:
    authority = load_or_create_authority(out)
    written = [out / "ca.crt"]
    if broker_names:
        written.append(
            issue_certificate(authority, out, "broker", broker_names[0], server_names=broker_names)
        )
    for device_id in device_ids:
        written.append(issue_certificate(authority, out, f"device-{device_id}", device_id))
    for path in written:
        print(f"wrote {path}")
    print(
        f"give devices {out / 'ca.crt'} (broker.ca_file); keep {out / 'ca.key'} offline"
        f" - it can sign certificates for any name ({datetime.now(UTC):%Y-%m-%d})"
    )
    return 0


# --- parser ----------------------------------------------------------------------------------


def register_user_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="manage accounts (parents, installers)")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="create an account",
        epilog='example: echo "$PASSWORD" | nursery-cloud user add ana@example.org '
        "--role installer --password-stdin",
    )
    add.add_argument("email")
    add.add_argument("--name", help="display name")
    add.add_argument("--role", choices=USER_ROLES, default="parent", help="(default: %(default)s)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of prompting",
    )
    role = actions.add_parser("set-role", help="change an account's role")
    role.add_argument("email")
    role.add_argument("role", choices=USER_ROLES)


def register_device_commands(device_commands: Any) -> None:
    add = device_commands.add_parser(
        "add",
        help="provision a device: new id, its own broker account, a claim code",
        description="Mint a device id, a random broker password (written to Mosquitto's "
        "password file, which is reloaded) and a single-use claim code. Needs DATABASE_URL, "
        "MOSQUITTO_PASSWORD_FILE, MOSQUITTO_PID_FILE and NURSERY_DEVICE_MQTT_HOST.",
    )
    add.add_argument("--installer-email", help="record this installer account as provisioner")
    add.add_argument("--json", action="store_true", help="print the credentials as JSON")
    revoke_parser = device_commands.add_parser(
        "revoke",
        help="remove a device's broker access now (its connection is dropped)",
    )
    revoke_parser.add_argument("device_id")


def register_certs_command(commands: Any) -> None:
    certs = commands.add_parser(
        "certs",
        help="create a development CA and broker/device TLS certificates",
        epilog="example: nursery-cloud certs --out mosquitto/certs --broker-name "
        "mqtt.home.arpa --broker-name 192.168.1.10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    certs.add_argument("--out", type=Path, required=True, help="folder for the files")
    certs.add_argument(
        "--broker-name",
        action="append",
        default=[],
        help="DNS name or IP address devices use for the broker (repeat for several)",
    )
    certs.add_argument(
        "--device",
        action="append",
        default=[],
        type=validate_device_id,
        help="also issue a client certificate for this device id (repeatable)",
    )


async def run_device_command(args: argparse.Namespace) -> int:
    if args.device_command == "add":
        return await add_device(args.installer_email, args.json)
    return await revoke(validate_device_id(args.device_id))


async def run_user_command(args: argparse.Namespace) -> int:
    if args.user_command == "add":
        password = read_new_password(args.password_stdin, f"password for {args.email}")
        return await add_user(args.email, args.name, args.role, password)
    return await set_role(args.email, args.role)
