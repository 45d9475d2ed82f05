"""The edge agent as a real process (``nursery-edge run --config``), configured for a test."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edge.local_status import read_status
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.processes import ManagedProcess, console_script
from tests.harness.services import BrokerAccount


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    os.chmod(path, 0o600)
    return path


class EdgeAgentRunner:
    """Writes one device's config (simulated sensor; file audio or none) and starts agents."""

    def __init__(
        self,
        workdir: Path,
        broker: MosquittoBroker,
        account: BrokerAccount,
        *,
        audio_files: Sequence[Path] = (),
        audio_options: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        outbox: Mapping[str, Any] | None = None,
        broker_options: Mapping[str, Any] | None = None,
        detector: Mapping[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        self.device_id = account.username
        self.state_dir = workdir / "state"
        password_file = workdir / "broker-password"
        password_file.write_text(account.password)
        os.chmod(password_file, 0o600)
        audio: dict[str, Any] = {"source": "none"}
        if audio_files:
            audio = {"source": "file", "files": list(audio_files), "loop": False, "gap_s": 0.0}
            audio.update(audio_options or {})
        self.config_path = write_config(
            workdir / "edge.toml",
            {
                "device": {"id": self.device_id, "state_dir": self.state_dir},
                "broker": {
                    "host": broker.host,
                    "port": broker.port,
                    "password_file": password_file,
                    "reconnect_initial_s": 0.2,
                    "reconnect_max_s": 2.0,
                    **(broker_options or {}),
                },
                "sensor": {"kind": "simulated", "read_interval_s": 2.0},
                "audio": audio,
                "outbox": dict(outbox or {}),
                "settings": {"telemetry_interval_s": 1.0, **(settings or {})},
                "detector": dict(detector or {}),
            },
        )
        self.runs = 0

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"

    def start(self) -> ManagedProcess:
        self.runs += 1
        return ManagedProcess(
            [
                console_script("nursery-edge"),
                "--log-level",
                "DEBUG",
                "run",
                "--config",
                str(self.config_path),
            ],
            {},
            self.workdir / f"agent-{self.runs}.log",
        )

    def wait_for_status(
        self,
        ready: Callable[[dict[str, Any]], bool],
        after: float = 0.0,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """The agent's first status (``status.json``) written after ``after`` (epoch seconds)
        that ``ready`` accepts."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            document = read_status(self.state_dir)
            if document and document["updated_at_epoch"] > after and ready(document):
                return document
            time.sleep(0.2)
        raise AssertionError(f"no such status from the agent: {read_status(self.state_dir)}")


def session_takeovers(broker: MosquittoBroker, username: str) -> int:
    """How often the broker closed a session of this account for a new login with it (the client
    id is the account name)."""
    return broker.log_file.read_text().count(f"Client {username} already connected")
