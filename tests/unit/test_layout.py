"""The repository's top level is fixed (see README and ARCHITECTURE): nothing else creeps in."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALLOWED = {
    "edge", "cloud", "firmware_config", "models", "tests", "mosquitto", "docker-compose.yml",
    "pyproject.toml", "README.md", ".ci", "docs", ".gitignore",
    # The server image and the compose file's settings template (docs/operations.md).
    "Dockerfile", ".dockerignore", ".env.example",
}  # fmt: skip
REQUIRED = {"edge", "cloud", "models", "tests", "mosquitto", "pyproject.toml", "README.md", ".ci"}


def _tracked_top_level() -> set[str]:
    listing = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return {path.split("/", 1)[0] for path in listing}


def test_top_level_is_the_fixed_layout() -> None:
    top_level = _tracked_top_level()
    assert top_level <= ALLOWED, f"unexpected top-level entries: {top_level - ALLOWED}"
    assert top_level >= REQUIRED, f"missing: {REQUIRED - top_level}"
