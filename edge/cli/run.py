"""``nursery-edge run --config FILE``: the edge agent daemon (what the systemd unit starts).

Runs until SIGTERM or SIGINT, then finishes an open cry episode, sends what it can within
``outbox.flush_timeout_s`` and leaves the rest in the outbox for the next start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from edge.assembly import AssemblyError, build_agent
from edge.cli.arguments import add_config_argument
from edge.cli.single_agent import run_as_the_only_agent
from edge.config import AgentConfig, ConfigError, check_files, load_config

logger = logging.getLogger(__name__)

EPILOG = """
examples:
  nursery-edge run --config /etc/nursery-edge/config.toml
  nursery-edge run --config firmware_config/edge.example.toml --check-config

exit status: 0 after a clean stop, 2 when the configuration is invalid (the message names the
key), 1 when the hardware or the model cannot be set up or an agent already runs with the same
state folder.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the edge agent (sensor, microphone, cry detection, MQTT)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_argument(parser)
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration file and exit",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        check_files(config)
    except ConfigError as exc:
        print(f"nursery-edge run: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{args.config}: configuration is valid (device {config.device.id})")
        return 0
    return run_as_the_only_agent(
        "nursery-edge run", Path(config.device.state_dir), lambda: _run_agent(config)
    )


def _run_agent(config: AgentConfig) -> int:
    try:
        agent = build_agent(config, os.environ)
    except ConfigError as exc:
        print(f"nursery-edge run: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except AssemblyError as exc:
        print(f"nursery-edge run: cannot start: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s", signal.Signals(signum).name)
        agent.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    agent.run()
    return 0
