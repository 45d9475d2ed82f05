"""The repository stands on its own: nothing outside it is referred to, except where CI and the
tier of tests that need development material look for that material, and the README's two
commands are the ones the scripts run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Where pointing beside the clone is the point: the material tier's lookup and its guard, the
# README's paragraph about that tier, and this test.
MAY_NAME_THE_MATERIAL = {
    "tests/harness/external_material.py",
    "tests/unit/test_external_material.py",
    "tests/unit/test_self_contained.py",
    "README.md",
}
OUTSIDE = re.compile(r"\.\./shared|shared/(reference|data|models|timescaledb)\b")


def _tracked_text_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    files = []
    for name in filter(None, listing):
        path = REPO / name
        if path.is_file() and b"\0" not in path.read_bytes()[:4096]:
            files.append(path)
    return files


def test_nothing_refers_to_material_outside_the_repository() -> None:
    offenders = []
    for path in _tracked_text_files():
        name = path.relative_to(REPO).as_posix()
        if name in MAY_NAME_THE_MATERIAL or name.startswith(".ci/"):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if OUTSIDE.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def _readme_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_the_readme_gives_two_commands_that_the_scripts_carry_out() -> None:
    blocks = [block.strip() for block in _readme_blocks()]
    assert "bash .ci/setup demo && .venv/bin/nursery-cloud demo" in blocks
    assert "bash .ci/run" in blocks
    run = (REPO / ".ci" / "run").read_text()
    # .ci/run installs through .ci/setup and then runs the README's marked test command.
    assert "bash .ci/setup tests" in run
    assert "<!-- test-command -->" in run
    readme = (REPO / "README.md").read_text()
    marked = re.search(
        r"<!-- test-command -->\n```bash\n(.*?)\n```\n<!-- /test-command -->", readme
    )
    assert marked is not None, "README.md has no marked test command"
    assert "--require-real-services" in marked.group(1)


def test_the_contract_the_workflow_test_reads_is_in_the_repository() -> None:
    contract = (REPO / "docs" / "app-api.md").read_text()
    assert "## The documented workflow" in contract
    assert 'BASE_URL = "http://localhost:8000"' in contract
