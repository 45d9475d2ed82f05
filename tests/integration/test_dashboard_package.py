"""The dashboard's files are package data: a wheel built from the project (as pip builds one
for a server install) contains every file the dashboard serves.

Editable installs read the files from the source tree, so only a real build proves the
``[tool.setuptools.package-data]`` entry. The build runs on a copy of the sources so it never
writes into the work tree; pip fetches the build backend from the package index.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cloud.api.routes.dashboard import ROOT_ASSETS, asset_names

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("cloud", "edge", "models")


@pytest.mark.slow
def test_a_built_wheel_contains_every_dashboard_file(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in PACKAGES:
        shutil.copytree(REPO / package, source / package, ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("nursery-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            name.removeprefix("cloud/api/dashboard/")
            for name in archive.namelist()
            if name.startswith("cloud/api/dashboard/")
        }
    # The page's files, and the manifest and service worker served at the root.
    served = asset_names() | ROOT_ASSETS
    assert served <= shipped, f"missing from the wheel: {served - shipped}"
