"""The shipped systemd unit agrees with the agent: the command, the paths, the watchdog."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from edge.cli.arguments import DEFAULT_CONFIG
from edge.config import load_config

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_config"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(FIRMWARE / "nursery-edge.service")
    return parser


def test_the_unit_runs_the_daemon_with_the_default_config_path() -> None:
    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/nursery-edge")
    assert argv[1:] == ["run", "--config", str(DEFAULT_CONFIG)]
    assert Path(str(DEFAULT_CONFIG)).parent.name == service["ConfigurationDirectory"]


def test_the_unit_restarts_always_and_uses_the_watchdog_the_agent_feeds() -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "always"
    assert int(service["WatchdogSec"]) >= 30  # the agent flags a thread stuck after 30 s
    assert service["KillSignal"] == "SIGTERM"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"


def test_the_state_directory_is_the_example_configs_state_dir() -> None:
    example = load_config(FIRMWARE / "edge.example.toml")
    assert example.device.state_dir == Path("/var/lib") / unit()["Service"]["StateDirectory"]
