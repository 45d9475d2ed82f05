"""Development material that is not in the repository, and the test tier that needs it.

A few tests need things too large or too foreign for the repository: the cry model's training
corpus, a TimescaleDB build. CI keeps them in a folder beside its clone (``../shared``); a
user's clone has nothing beside it. Such a test is marked
``@pytest.mark.needs_material("data/audio", "the training corpus")`` (a path relative to that
folder, and what it is) and reads the path with :func:`material_path`.

Without the material the test skips with one line naming what it needs - except under CI
(``CI`` set and not false), where it fails: a CI that lost its material must not pass quietly.
``NURSERY_SHARED_DIR`` points elsewhere than ``../shared``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

MARKER = "needs_material"
SHARED_DIR_VARIABLE = "NURSERY_SHARED_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
# What the marker's first argument names, for the tiers that exist.
TRAINING_CORPUS = "data/audio"
_FALSE_WORDS = {"", "0", "false", "no", "off"}


def under_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this run is CI's (CI services set ``CI=true``)."""
    return environ.get("CI", "").strip().lower() not in _FALSE_WORDS


def missing_tool(message: str) -> NoReturn:
    """A tool a test needs is not installed: a clone skips with ``message``; CI, whose setup
    installs it (.ci/setup tests), fails instead."""
    if under_ci():
        pytest.fail(f"{message}: required under CI", pytrace=False)
    pytest.skip(message)


def node_executable() -> str:
    """Node.js, which runs the dashboard's scripts in unit tests (or :func:`missing_tool`)."""
    node = shutil.which("node")
    if node is None:
        missing_tool("Node.js is not installed (apt-get install nodejs; .ci/setup tests does)")
    return node


def shared_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder that holds the material: ``$NURSERY_SHARED_DIR``, else ``../shared``."""
    override = environ.get(SHARED_DIR_VARIABLE, "").strip()
    return Path(override) if override else REPO_ROOT.parent / "shared"


def material_path(relative: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Where the material ``relative`` (e.g. ``data/audio``) is, whether or not it is there."""
    return shared_dir(environ) / relative


def shown_path(relative: str, environ: Mapping[str, str] = os.environ) -> str:
    """How a message names the material ``relative``: its place as the reader would look."""
    if environ.get(SHARED_DIR_VARIABLE, "").strip():
        return str(material_path(relative, environ))
    return f"../shared/{relative}"


@dataclass(frozen=True)
class MaterialCheck:
    """What to do about one marked test: run it, skip it, or fail it (with ``reason``)."""

    action: str  # "run", "skip" or "fail"
    reason: str = ""


def check_material(
    relative: str, what: str, environ: Mapping[str, str] = os.environ
) -> MaterialCheck:
    if material_path(relative, environ).exists():
        return MaterialCheck("run")
    place = shown_path(relative, environ)
    reason = f"needs {what} at {place} (development material, not in the repository)"
    if under_ci(environ):
        return MaterialCheck(
            "fail",
            f"{reason}; CI must have it: put it there or set {SHARED_DIR_VARIABLE} to the "
            "folder that holds it",
        )
    return MaterialCheck("skip", reason)


def marker_arguments(mark: pytest.Mark) -> tuple[str, str]:
    """The (relative path, description) of a ``needs_material`` mark, checked."""
    if len(mark.args) != 2 or not all(isinstance(arg, str) for arg in mark.args):
        raise pytest.UsageError(
            f'@pytest.mark.{MARKER} takes a path and what it is, e.g. ("data/audio", '
            f'"the training corpus"); got {mark.args!r}'
        )
    return mark.args[0], mark.args[1]


def guard_item(item: pytest.Item) -> None:
    """Skip or fail a marked test before its setup when its material is missing."""
    for mark in item.iter_markers(MARKER):
        check = check_material(*marker_arguments(mark))
        if check.action == "skip":
            pytest.skip(check.reason)
        if check.action == "fail":
            pytest.fail(check.reason, pytrace=False)
