"""The demo's lasting state: secrets, the database, the demo account and its devices.

Everything is created on the first start and found again on the next, so a second start
resumes with the same login, the same devices and the history collected so far.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from cloud.api.security import PasswordHasher
from cloud.demo.processes import DemoError
from cloud.storage import DuplicateEmailError, open_storage

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "nursery-demo"  # noqa: S105 - printed on purpose: a local demo login


@dataclass(frozen=True, slots=True)
class DemoDevice:
    device_id: str
    name: str
    audio: tuple[Path, ...]


def load_secrets(state_dir: Path, device_ids: list[str]) -> dict[str, str]:
    """Random secrets made on the first start and reused after, readable only by the user."""
    path = state_dir / "secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = [
        "jwt_secret",
        "server_password",
        "collector_password",
        *(f"device:{d}" for d in device_ids),
    ]
    missing = [key for key in wanted if key not in stored]
    if missing:
        for key in missing:
            stored[key] = secrets.token_urlsafe(48 if key == "jwt_secret" else 24)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(stored, handle)
    return stored


def without_password(database_url: str) -> str:
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def create_postgres_database_if_missing(database_url: str) -> None:
    """A PostgreSQL demo database is created on first start, on the server the URL names."""
    try:
        with psycopg.connect(database_url, connect_timeout=5):
            return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise DemoError(
                f"cannot reach PostgreSQL at {without_password(database_url)}: {exc}\n"
                "start it, or leave --database-url out to use SQLite"
            ) from exc
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    server_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


async def prepare_database(database_url: str, devices: list[DemoDevice]) -> None:
    """Schema, the demo account and its devices (each owned by the demo account and named)."""
    storage = await open_storage(database_url)
    try:
        await storage.migrate()
        try:
            user = await storage.create_user(
                DEMO_EMAIL, PasswordHasher().hash(DEMO_PASSWORD), "Demo parent"
            )
            owner_id = user.id
        except DuplicateEmailError:
            credentials = await storage.get_credentials(DEMO_EMAIL)
            assert credentials is not None
            owner_id = credentials.user.id
        for device in devices:
            await storage.register_device(device.device_id, owner_id)
        named = {
            summary.device_id: summary.name for summary in await storage.list_devices(owner_id)
        }
        for device in devices:
            # The name the demo prints, so the dashboard and the API show it too; a name the
            # visitor gave the device on an earlier run is kept.
            if named.get(device.device_id) is None:
                await storage.rename_device(owner_id, device.device_id, device.name)
    finally:
        await storage.close()
