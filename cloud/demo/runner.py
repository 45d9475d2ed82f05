"""Runs the demo until Ctrl-C: a broker, the server (API + collector), two simulated devices.

No Docker and no database server: SQLite in ``--state-dir`` by default (``--database-url``
takes PostgreSQL instead), a Mosquitto the demo configures and starts itself with the project's
ACL, ``nursery-cloud serve`` for the API and the collector, and two ``nursery-edge simulate``
devices replaying real recordings through the real cry detector: one a crying baby, one a
room with speech. Every part is its own process, as in production; the cloud package never
imports the edge package.

Ctrl-C (or SIGTERM) stops the devices first (they flush their outboxes), then the server (it
commits its last batch), then the broker. Everything lasting is in ``--state-dir``: a second
start resumes with the same login, devices and history.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from cloud.demo.broker import write_broker_config
from cloud.demo.processes import Child, DemoError, port_is_free, wait_for_port
from cloud.demo.progress import DemoApi, Progress
from cloud.demo.state import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DemoDevice,
    create_postgres_database_if_missing,
    load_secrets,
    prepare_database,
)

PROGRESS_INTERVAL_S = 5.0
AUDIO_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "audio"
SERVER_ACCOUNT = "svc.server"
# The broker allows one connection per account: the server's embedded collector has its own.
COLLECTOR_ACCOUNT = "svc.server.collector"


def default_devices(audio_dir: Path = AUDIO_DIR) -> list[DemoDevice]:
    return [
        # Crying, then a quiet spell of speech: every loop is a new cry episode and alert.
        DemoDevice(
            "demo-nursery-1",
            "Crying baby",
            (audio_dir / "cry_donateacry.flac", audio_dir / "not_cry_speech_commands.flac"),
        ),
        DemoDevice("demo-nursery-2", "Talking room", (audio_dir / "not_cry_speech_commands.flac",)),
    ]


@dataclass(frozen=True, slots=True)
class DemoOptions:
    state_dir: Path
    database_url: str | None = None  # None: SQLite in state_dir
    api_port: int = 8000
    mqtt_port: int = 18830
    reading_interval_s: float = 2.0
    devices: list[DemoDevice] = field(default_factory=default_devices)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'nursery.db').resolve()}"


def _check(options: DemoOptions) -> None:
    for port in (options.api_port, options.mqtt_port):
        if not port_is_free(port):
            raise DemoError(f"port {port} is in use; choose another with --api-port/--mqtt-port")
    for device in options.devices:
        for path in device.audio:
            if not path.is_file():
                raise DemoError(f"demo audio {path} is missing; run the demo from a checkout")


def _device_child(options: DemoOptions, device: DemoDevice, password: str, log_dir: Path) -> Child:
    argv = [
        sys.executable, "-m", "edge.cli", "simulate",
        "--device-id", device.device_id,
        "--port", str(options.mqtt_port),
        "--interval", str(options.reading_interval_s),
        "--state-dir", str(options.state_dir / "devices"),
        "--audio", *(str(path) for path in device.audio),
    ]  # fmt: skip
    return Child(device.device_id, argv, {"MQTT_PASSWORD": password}, log_dir)


def run_demo(options: DemoOptions, say: Callable[[str], None]) -> int:
    _check(options)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    log_dir = options.state_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    keys = load_secrets(options.state_dir, [d.device_id for d in options.devices])
    database_url = options.effective_database_url
    say(f"preparing {'SQLite' if options.database_url is None else 'the'} database ...")
    if database_url.startswith("postgres"):
        create_postgres_database_if_missing(database_url)
    asyncio.run(prepare_database(database_url, options.devices))

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    children: list[Child] = []
    try:
        accounts = {
            SERVER_ACCOUNT: keys["server_password"],
            COLLECTOR_ACCOUNT: keys["collector_password"],
        }
        accounts.update({d.device_id: keys[f"device:{d.device_id}"] for d in options.devices})
        broker_argv = write_broker_config(options.state_dir, options.mqtt_port, accounts)
        children.append(broker := Child("mosquitto", broker_argv, {}, log_dir))
        wait_for_port(broker, options.mqtt_port)
        server_env = {
            "DATABASE_URL": database_url,
            "JWT_SECRET": keys["jwt_secret"],
            "NURSERY_UPLOAD_DIR": str(options.state_dir / "uploads"),
            "MQTT_HOST": "127.0.0.1",
            "MQTT_PORT": str(options.mqtt_port),
            "MQTT_USERNAME": SERVER_ACCOUNT,
            "MQTT_PASSWORD": keys["server_password"],
            "NURSERY_COLLECTOR_MQTT_USERNAME": COLLECTOR_ACCOUNT,
            "NURSERY_COLLECTOR_MQTT_PASSWORD": keys["collector_password"],
            "NURSERY_COLLECTOR_CLIENT_ID": "nursery-demo-collector",
        }
        server_argv = [sys.executable, "-m", "cloud.cli", "serve", "--port", str(options.api_port)]
        children.append(server := Child("server", server_argv, server_env, log_dir))
        say("starting the API and the collector ...")
        wait_for_port(server, options.api_port, timeout_s=60.0)
        for device in options.devices:
            password = keys[f"device:{device.device_id}"]
            children.append(_device_child(options, device, password, log_dir))
        say(f"dashboard:  http://127.0.0.1:{options.api_port}/")
        say(f"API docs:   http://127.0.0.1:{options.api_port}/docs")
        say(f"demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        for device in options.devices:
            replays = ", ".join(path.name for path in device.audio)
            say(f"device:     {device.device_id} ({device.name}) replays {replays}")
        say(f"logs:       {log_dir}  (Ctrl-C stops everything)")
        _show_progress(options, children, stop, log_dir, say)
    finally:
        # Devices first (they flush to the broker), then the server, then the broker.
        for child in reversed(children):
            child.stop()
    say("demo stopped; start it again to resume")
    return 0


def _show_progress(
    options: DemoOptions,
    children: list[Child],
    stop: threading.Event,
    log_dir: Path,
    say: Callable[[str], None],
) -> None:
    api = DemoApi(options.api_port)
    last: Progress | None = None
    while not stop.wait(PROGRESS_INTERVAL_S):
        dead = [child.name for child in children if not child.alive()]
        if dead:
            raise DemoError(f"{', '.join(dead)} stopped unexpectedly; see the logs in {log_dir}")
        try:
            progress = api.progress()
        except (urllib.error.URLError, OSError) as exc:
            say(f"the API did not answer ({exc}); see {log_dir / 'server.log'}")
            continue
        if last is not None and progress.cry_alerts > last.cry_alerts:
            say(f"CRY ALERT: {progress.cry_alerts - last.cry_alerts} new cry alert(s) sent")
        say(progress.line())
        last = progress
