"""``nursery-edge simulate``: the real edge agent with a simulated sensor and replayed audio.

For the local demo and the tests, and to try a broker setup without a Raspberry Pi: everything
but the hardware is what runs on a device - the outbox, the MQTT connection with its device
credentials, remote config, status, and (with ``--audio``) the cry detector on real recordings.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from edge.assembly import AssemblyError, build_agent
from edge.cli.single_agent import run_as_the_only_agent
from edge.config import AgentConfig, ConfigError, parse_config
from edge.daemon import EdgeAgent

logger = logging.getLogger(__name__)

EPILOG = """
examples:
  MQTT_PASSWORD=... nursery-edge simulate --device-id nursery-0001 --port 1883
  nursery-edge simulate --device-id nursery-0001 --count 5 --interval 1
  nursery-edge simulate --device-id nursery-0001 --audio tests/data/audio/cry_donateacry.flac
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run the edge agent with a simulated sensor (and replayed audio)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device-id", required=True, help="the device id (its MQTT identity)")
    parser.add_argument("--host", default="127.0.0.1", help="broker host (default: %(default)s)")
    parser.add_argument("--port", type=int, default=1883, help="broker port (default: %(default)s)")
    parser.add_argument("--username", help="broker user name (default: the device id)")
    parser.add_argument(
        "--password-env",
        default="MQTT_PASSWORD",
        metavar="VAR",
        help="environment variable holding the broker password (default: %(default)s)",
    )
    parser.add_argument("--ca-file", type=Path, help="CA certificate for a TLS listener")
    parser.add_argument(
        "--count", type=int, default=0, help="readings to send before stopping, 0 for no limit"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=10.0,
        help="seconds between readings, at least 1 (default: %(default)s)",
    )
    parser.add_argument(
        "--audio",
        type=Path,
        nargs="+",
        default=[],
        metavar="FILE",
        help="audio files replayed in a loop, in real time, as the microphone",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var/simulated-device"),
        help="where the outbox and settings are kept (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def config_document(args: argparse.Namespace, password: str | None) -> dict[str, Any]:
    broker: dict[str, Any] = {"host": args.host, "port": args.port, "reconnect_max_s": 5.0}
    if args.username:
        broker["username"] = args.username
    if password:
        broker["password"] = password
    if args.ca_file:
        broker["ca_file"] = str(args.ca_file)
    audio: dict[str, Any] = {"source": "none"}
    if args.audio:
        audio = {"source": "file", "files": [str(path) for path in args.audio], "loop": True}
    return {
        "device": {"id": args.device_id, "state_dir": str(args.state_dir / args.device_id)},
        "broker": broker,
        "sensor": {"kind": "simulated", "read_interval_s": 2.0},
        "audio": audio,
        "settings": {"telemetry_interval_s": args.interval},
    }


def _stop_after(agent: EdgeAgent, count: int) -> None:
    while agent.telemetry_sent < count:
        threading.Event().wait(0.1)
    agent.request_stop()


def run(args: argparse.Namespace) -> int:
    password = os.environ.get(args.password_env) or None
    try:
        config = parse_config(config_document(args, password), "nursery-edge simulate")
    except ConfigError as exc:
        print(f"nursery-edge simulate: {exc}", file=sys.stderr)
        return 2
    return run_as_the_only_agent(
        "nursery-edge simulate", Path(config.device.state_dir), lambda: _simulate(args, config)
    )


def _simulate(args: argparse.Namespace, config: AgentConfig) -> int:
    try:
        agent = build_agent(config, os.environ)
    except ConfigError as exc:
        print(f"nursery-edge simulate: {exc}", file=sys.stderr)
        return 2
    except AssemblyError as exc:
        print(f"nursery-edge simulate: cannot start: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        agent.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.count:
        threading.Thread(target=_stop_after, args=(agent, args.count), daemon=True).start()
    agent.run()
    return 0
