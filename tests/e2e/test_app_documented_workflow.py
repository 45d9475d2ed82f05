"""The documented workflow of the app's contract, run verbatim against a server.

The script is read from docs/app-api.md at test time - not copied - and executed with only its
BASE_URL pointed at a `nursery-cloud api` process started here. If the document's script
changes, this test runs the new one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.api_process import running_api

APP_API = Path(__file__).resolve().parents[2] / "docs" / "app-api.md"
SECRET = "documented-workflow-secret-0123456789-abcdefgh"


def documented_workflow() -> str:
    text = APP_API.read_text()
    section = text[text.index("## The documented workflow") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the documented workflow has no python block"
    return match.group(1)


@pytest.fixture
def api_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with running_api(database_url, SECRET, tmp_path) as url:
        yield url


def test_the_documented_full_workflow_passes_unmodified(api_url: str, tmp_path: Path) -> None:
    script = documented_workflow()
    assert 'BASE_URL = "http://localhost:8000"' in script
    pointed = script.replace('BASE_URL = "http://localhost:8000"', f'BASE_URL = "{api_url}"')
    # Fail on the first error response, as a person running it would notice one.
    checked = (
        "import requests\n"
        "_original = requests.Session.request\n"
        "def _checked(self, *args, **kwargs):\n"
        "    response = _original(self, *args, **kwargs)\n"
        "    response.raise_for_status()\n"
        "    return response\n"
        "requests.Session.request = _checked\n"
    ) + pointed
    path = tmp_path / "full_workflow.py"
    path.write_text(checked)
    run = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    output = run.stdout
    for step in (
        "User registered:",
        "Token received:",
        "User info:",
        "Health data uploaded:",
        "History: 1 records",
        "Stats:",
        "Time-series data: 1 buckets",
    ):
        assert step in output, output
