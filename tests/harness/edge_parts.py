"""An edge agent's parts for running it in-process, without a broker or hardware.

The broker is a loopback port nothing listens on: what the agent would publish stays in its
outbox and status, where a test reads it. Tests override any part by keyword.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.daemon import AgentParts
from edge.publish.backoff import BackoffPolicy
from edge.publish.mqtt_client import BrokerSettings
from edge.publish.outbox import Outbox
from edge.systemd import SystemdNotifier
from edge.timesync import ClockMonitor
from models.contract import DeviceSettings, Event, MessageKind, decode_message, topic_for

DEVICE = "unit-selfcheck"


def agent_parts(tmp_path: Path, **parts: Any) -> AgentParts:
    defaults: dict[str, Any] = {
        "device_id": DEVICE,
        "settings": DeviceSettings(),
        "outbox": Outbox(tmp_path / "outbox.sqlite3"),
        # Port 9 (discard) on the loopback: refused at once, so nothing is ever sent.
        "broker": BrokerSettings("127.0.0.1", 9),
        "backoff": BackoffPolicy(initial_s=0.5, max_s=1.0),
        "max_in_flight": 1,
        "remote_state_path": tmp_path / "remote-settings.json",
        "sampler": None,
        "sensor_interval_s": 2.0,
        "audio": None,
        "live": None,
        "meter": None,
        "loud": None,
        "microphone": None,
        "clock": ClockMonitor(lambda: None),
        "firmware_version": "test",
        "model_version": None,
        "flush_timeout_s": 0.0,
        "notifier": SystemdNotifier(None, None),
    }
    return AgentParts(**{**defaults, **parts})


def events_in(outbox_path: Path, device_id: str = DEVICE) -> list[Event]:
    """The events the agent of ``device_id`` left in its outbox (nothing was sent), oldest
    first."""
    outbox = Outbox(outbox_path)
    try:
        messages = outbox.pending(-1, 1000)
    finally:
        outbox.close()
    events = [
        decode_message(topic_for(device_id, m.kind), m.payload)
        for m in messages
        if m.kind == MessageKind.EVENT
    ]
    assert all(isinstance(event, Event) for event in events)
    return [event for event in events if isinstance(event, Event)]
