"""The first check: the configuration file loads; every later check needs it."""

from __future__ import annotations

from pathlib import Path

from edge.checks.result import CheckResult, Outcome
from edge.config import AgentConfig, ConfigError, load_config

EXAMPLE = "firmware_config/edge.example.toml"


def check_config(path: Path) -> tuple[CheckResult, AgentConfig | None]:
    """The verdict, and the configuration when it is valid."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        if not path.exists():
            fix = (
                f"create {path} with `nursery-edge setup`, or copy {EXAMPLE} there and edit "
                "it, or pass the right file with --config"
            )
        else:
            fix = (
                f"edit the key named above in {path} (every key is explained in {EXAMPLE}); "
                f"`nursery-edge run --config {path} --check-config` validates it"
            )
        return CheckResult("config", Outcome.FAIL, str(exc), fix), None
    return CheckResult("config", Outcome.PASS, f"{path} (device {config.device.id})"), config
