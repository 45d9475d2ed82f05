"""Arguments several ``nursery-edge`` sub-commands share, defined once."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path("/etc/nursery-edge/config.toml")


def add_config_argument(
    parser: Any, help_text: str = "TOML configuration file (default: %(default)s)"
) -> None:
    """``--config FILE`` (``parser`` may be a parser or a mutually exclusive group)."""
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, metavar="FILE", help=help_text
    )


def seconds_between(low: float, high: float) -> Callable[[str], float]:
    """An argparse ``type`` accepting a number of seconds in [low, high]."""

    def parse(text: str) -> float:
        value = float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    return parse
