"""Running the dashboard's ES modules in Node, as the browser runs them, from unit tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.harness.external_material import node_executable

DASHBOARD = Path(__file__).resolve().parents[2] / "cloud" / "api" / "dashboard"


def evaluate(module: str, as_name: str, expression: str) -> Any:
    """The JSON value of ``expression``, with the dashboard's ``module`` imported as ``as_name``."""
    script = (
        f"import * as {as_name} from {json.dumps((DASHBOARD / module).as_uri())};\n"
        f"const result = {expression};\n"
        "console.log(JSON.stringify(result));\n"
    )
    done = subprocess.run(
        [node_executable(), "--input-type=module", "-e", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
