"""``nursery-edge status``: what the running agent is doing right now.

Reads the status the daemon rewrites every few seconds in its state folder
(``edge.local_status``): connection, outbox depth, last reading, last event, faults and errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.cli.arguments import add_config_argument
from edge.config import ConfigError, load_config
from edge.local_status import daemon_is_running, read_status

# As LSB init scripts: "user had insufficient privilege".
NO_PERMISSION = 4
EPILOG = """
examples:
  sudo nursery-edge status
  nursery-edge status --state-dir ./device/state --json

exit status: 0 running, 3 not running (as `systemctl is-active`), 2 invalid configuration,
4 no permission to read the agent's state (run with sudo).
"""
NOT_RUNNING = 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show the running agent's state (connection, outbox, last reading and event)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_location_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the raw status document")
    parser.set_defaults(handler=on_state_dir("status", _show))


def add_location_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    add_config_argument(
        where, "the agent's configuration, to find its state folder (default: %(default)s)"
    )
    where.add_argument("--state-dir", type=Path, help="the agent's state folder, directly")


def state_dir_of(args: argparse.Namespace) -> Path:
    if args.state_dir is not None:
        return Path(args.state_dir)
    return Path(load_config(args.config).device.state_dir)


def _age(iso_time: str | None) -> str:
    if not iso_time:
        return "never"
    seconds = time.time() - datetime.fromisoformat(iso_time).timestamp()
    return f"{iso_time} ({seconds:.0f} s ago)"


def _level(value: object, unit: str) -> str:
    """One decimal, as the sensor and the meter can tell them apart; "no value" when absent."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.1f} {unit}"
    return f"no {unit} value"


def _faults(document: dict[str, Any]) -> str:
    details = document.get("fault_details") or {}
    shown = [
        f"{name} ({details[name]})" if name in details else name
        for name in document.get("faults") or []
    ]
    return "; ".join(shown) or "none"


def _ignore_list(document: dict[str, Any]) -> str:
    """The home's "not a cry" list: how many sounds, which revision, when it changed, and the
    marked episodes the device has no fingerprint for."""
    listed = document.get("ignore_list")
    if not isinstance(listed, dict):
        return "not reported (an older agent)"
    revision = listed.get("revision")
    text = f"{listed.get('size')} in use, " + (
        f"revision {revision}, changed at {_age(listed.get('changed_at'))}"
        if revision is not None
        else "no list received yet"
    )
    if unknown := listed.get("unknown"):
        text += f"; no fingerprint for episode(s) {', '.join(str(i) for i in unknown)}"
    if problem := listed.get("problem"):
        text += f"; PROBLEM: {problem}"
    return text


def on_state_dir(
    command: str, body: Callable[[argparse.Namespace, Path], int]
) -> Callable[[argparse.Namespace], int]:
    """A handler that finds the agent's state folder, then runs ``body(args, state_dir)``.

    Both failures an operator meets first get a sentence instead of a traceback: an invalid
    configuration (exit 2) and a state folder only root may read (exit NO_PERMISSION).
    """

    def handler(args: argparse.Namespace) -> int:
        try:
            try:
                state_dir = state_dir_of(args)
            except ConfigError as exc:
                print(f"nursery-edge {command}: invalid configuration: {exc}", file=sys.stderr)
                return 2
            return body(args, state_dir)
        except PermissionError as exc:
            print(
                f"nursery-edge {command}: cannot read {exc.filename}: permission denied; "
                "the agent's state folder is private to it - run this with sudo",
                file=sys.stderr,
            )
            return NO_PERMISSION

    return handler


def _show(args: argparse.Namespace, state_dir: Path) -> int:
    document = read_status(state_dir)
    running = daemon_is_running(document)
    if args.json:
        print(json.dumps({"running": running, "status": document}, indent=2))
        return 0 if running else NOT_RUNNING
    if document is None:
        print(f"not running: no status in {state_dir} (start it: systemctl start nursery-edge)")
        return NOT_RUNNING
    if document.get("stopped_at"):
        print(f"stopped: the agent stopped at {_age(document.get('stopped_at'))}")
    elif not running:
        print(
            f"not running: last status at {_age(document.get('updated_at'))} "
            "(killed, crashed or the power went off)"
        )
    reading = document.get("last_reading") or {}
    event = document.get("last_event") or {}
    if running:
        link = "connected" if document.get("connected") else "NOT connected"
    else:
        link = "not connected: the agent is stopped"
    rows = [
        (
            "device",
            f"{document.get('device_id')} ({'pid' if running else 'was pid'} "
            f"{document.get('pid')})",
        ),
        ("running since" if running else "last started", document.get("started_at")),
        (
            "versions",
            f"firmware {document.get('firmware_version')}, model {document.get('model_version')}",
        ),
        # An older agent does not write its detector mode.
        ("cry detector", document.get("detector_mode") or "not running (no audio)"),
        ("broker", f"{document.get('broker')} - {link}"),
        ("last error", document.get("last_error") or "none"),
        (
            "outbox",
            f"{document.get('outbox_depth')} message(s) waiting, "
            f"{document.get('dropped_telemetry')} reading(s) dropped since installation",
        ),
        (
            "last reading",
            _age(reading.get("time"))
            + (
                f": {_level(reading.get('temperature_c'), '°C')}, "
                f"{_level(reading.get('humidity_pct'), '%RH')}, "
                f"{_level(reading.get('sound_dbfs_avg'), 'dBFS')}"
                if reading
                else ""
            ),
        ),
        ("last event", f"{event.get('kind')} at {_age(event.get('time'))}" if event else "none"),
        ("faults", _faults(document)),
        ("ignored sounds", _ignore_list(document)),
        ("sensor failures", document.get("sensor_failures")),
        (
            "audio",
            f"{document.get('audio_errors')} error(s), "
            f"{document.get('audio_overflows')} overflow(s)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0 if running else NOT_RUNNING
