"""A local Mosquitto for the demo, configured like production: no anonymous access, the ACL."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from pathlib import Path

from cloud.broker.acl import render_acl
from cloud.demo.processes import DemoError

ACL_FILE = Path(__file__).resolve().parents[2] / "mosquitto" / "acl"


def _binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise DemoError(f"{name} not found; install Mosquitto: apt-get install mosquitto")


def write_broker_config(state_dir: Path, port: int, accounts: dict[str, str]) -> list[str]:
    """Write config and password file; returns the command that starts the broker."""
    if not ACL_FILE.exists():
        raise DemoError(f"broker ACL {ACL_FILE} not found; run the demo from a Nursery checkout")
    broker_dir = state_dir.resolve() / "mosquitto"
    (broker_dir / "data").mkdir(parents=True, exist_ok=True)
    password_file = broker_dir / "passwd"
    password_file.unlink(missing_ok=True)
    password_file.touch(mode=0o600)
    for username, password in accounts.items():
        subprocess.run(  # noqa: S603 - our own fixed command line
            [_binary("mosquitto_passwd"), "-b", str(password_file), username, password],
            check=True,
            capture_output=True,
        )
    # As in production: the ACL template plus a block per service instance account.
    acl_file = broker_dir / "acl"
    acl_file.write_text(render_acl(ACL_FILE.read_text(), list(accounts)))
    config = broker_dir / "mosquitto.conf"
    config.write_text(
        "\n".join(
            [
                "per_listener_settings false",
                # Keep the user running the demo (mosquitto would otherwise switch from root to
                # `mosquitto`, which cannot read files in the user's state folder).
                f"user {getpass.getuser()}",
                "allow_anonymous false",
                f"password_file {password_file}",
                f"acl_file {acl_file}",
                "max_packet_size 65536",  # as mosquitto/mosquitto.conf
                f"listener {port} 127.0.0.1",
                # After the listener line: Mosquitto 2.0 applies it per listener.
                "use_username_as_clientid true",
                "persistence true",
                f"persistence_location {broker_dir / 'data'}/",
                "autosave_interval 1",
                "max_queued_messages 100000",
                "max_inflight_messages 12000",  # as mosquitto/mosquitto.conf
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "",
            ]
        )
    )
    return [_binary("mosquitto"), "-c", str(config)]
