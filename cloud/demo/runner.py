"""Runs the demo until Ctrl-C: broker, collector, API and a simulated device, with progress.

State (database name, secrets, broker persistence, logs) is kept in ``--state-dir`` so that a
second start resumes where the first stopped. The simulated device runs as its own process
(``python -m edge.cli simulate``), exactly as a real device is a separate program: the cloud
package never imports the edge package.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import sys
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from cloud.api.security import PasswordHasher
from cloud.demo.broker import write_broker_config
from cloud.demo.processes import Child, DemoError, port_is_free, wait_for_port
from cloud.storage import DuplicateEmailError, open_storage

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "nursery-demo"  # noqa: S105 - printed on purpose: a local demo login
PROGRESS_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    state_dir: Path
    database_url: str
    api_port: int = 8000
    mqtt_port: int = 18830
    device_id: str = "demo-nursery-1"
    reading_interval_s: float = 2.0


def _secrets(state_dir: Path) -> dict[str, str]:
    """Random secrets created on the first start and reused after, kept private to the user."""
    path = state_dir / "secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    created = {
        "jwt_secret": secrets.token_urlsafe(48),
        "collector_password": secrets.token_urlsafe(24),
        "device_password": secrets.token_urlsafe(24),
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(created))
    return created


def _create_database_if_missing(database_url: str) -> None:
    """The demo's database is created on first start, on the server the URL names."""
    try:
        with psycopg.connect(database_url, connect_timeout=5):
            return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise DemoError(
                f"cannot reach PostgreSQL at {_without_password(database_url)}: {exc}\n"
                "install and start it (apt-get install postgresql) or set DATABASE_URL"
            ) from exc
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    server_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _without_password(database_url: str) -> str:
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


async def _prepare_database(options: DemoOptions) -> None:
    storage = await open_storage(options.database_url)
    try:
        await storage.migrate()
        try:
            user = await storage.create_user(
                DEMO_EMAIL, PasswordHasher().hash(DEMO_PASSWORD), "Demo"
            )
            owner_id = user.id
        except DuplicateEmailError:
            credentials = await storage.get_credentials(DEMO_EMAIL)
            assert credentials is not None
            owner_id = credentials.user.id
        await storage.register_device(options.device_id, owner_id)
    finally:
        await storage.close()


def _local_api_json(url: str, body: object = None, token: str | None = None) -> object:
    """A request to the demo's own API on localhost (a fixed http:// URL, so S310 is moot)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.load(response)


def _history_count(api_port: int) -> int:
    """Count what the demo parent sees, through the API as the app would."""
    base = f"http://127.0.0.1:{api_port}"
    login = _local_api_json(f"{base}/auth/login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert isinstance(login, dict)
    history = _local_api_json(f"{base}/health/history?limit=1000", token=login["access_token"])
    assert isinstance(history, list)
    return len(history)


def run_demo(options: DemoOptions, say: Callable[[str], None]) -> int:
    for port in (options.api_port, options.mqtt_port):
        if not port_is_free(port):
            raise DemoError(f"port {port} is in use; choose another with --api-port/--mqtt-port")
    options.state_dir.mkdir(parents=True, exist_ok=True)
    log_dir = options.state_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    keys = _secrets(options.state_dir)
    say("preparing the database ...")
    _create_database_if_missing(options.database_url)
    asyncio.run(_prepare_database(options))

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    cloud = [sys.executable, "-m", "cloud.cli"]
    mqtt_env = {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(options.mqtt_port)}
    children: list[Child] = []
    try:
        broker_cmd = write_broker_config(
            options.state_dir,
            options.mqtt_port,
            {
                "svc.collector": keys["collector_password"],
                options.device_id: keys["device_password"],
            },
        )
        children.append(broker := Child("mosquitto", broker_cmd, {}, log_dir))
        wait_for_port(broker, options.mqtt_port)
        children.append(
            api := Child(
                "api",
                [*cloud, "api", "--port", str(options.api_port)],
                {"DATABASE_URL": options.database_url, "JWT_SECRET": keys["jwt_secret"]},
                log_dir,
            )
        )
        children.append(
            Child(
                "collector",
                [*cloud, "collector"],
                {
                    "DATABASE_URL": options.database_url,
                    "MQTT_USERNAME": "svc.collector",
                    "NURSERY_COLLECTOR_HTTP_PORT": "0",
                    "MQTT_PASSWORD": keys["collector_password"],
                    **mqtt_env,
                },
                log_dir,
            )
        )
        wait_for_port(api, options.api_port)
        children.append(
            Child(
                "device",
                [
                    sys.executable,
                    "-m",
                    "edge.cli",
                    "simulate",
                    "--device-id",
                    options.device_id,
                    "--port",
                    str(options.mqtt_port),
                    "--interval",
                    str(options.reading_interval_s),
                    "--state-dir",
                    str(options.state_dir / "device"),
                ],
                {"MQTT_PASSWORD": keys["device_password"]},
                log_dir,
            )
        )
        say(f"API docs:   http://127.0.0.1:{options.api_port}/docs")
        say(f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        say(f"logs:       {log_dir}  (Ctrl-C stops everything)")
        while not stop.wait(PROGRESS_INTERVAL_S):
            dead = [child.name for child in children if not child.alive()]
            if dead:
                raise DemoError(f"{', '.join(dead)} stopped unexpectedly; see {log_dir}")
            say(f"readings stored for {options.device_id}: {_history_count(options.api_port)}")
    finally:
        for child in reversed(children):
            child.stop()
    say("demo stopped")
    return 0
