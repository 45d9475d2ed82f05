"""The dashboard's words for what the detector heard (cloud/api/dashboard/heard.js), run in
Node as the browser runs the module; the browser test shows it on a real alert."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.harness.external_material import node_executable

HEARD_JS = Path(__file__).resolve().parents[2] / "cloud" / "api" / "dashboard" / "heard.js"

CASES: list[tuple[object, str]] = [
    (
        {
            "heard": [
                {"label": "Baby cry, infant cry", "score": 0.93},
                {"label": "Whimper", "score": 0.41},
                {"label": "Speech", "score": 0.08},
            ]
        },
        "Heard: Baby cry, infant cry 93 %, Whimper 41 %, Speech 8 %",
    ),
    (
        {"heard": [{"label": "Whimper", "score": 1}, {"label": "Hush", "score": 0}]},
        "Heard: Whimper 100 %, Hush 0 %",
    ),
    ({"heard": []}, ""),  # the monitor named nothing
    ({"confidence": 0.9, "temperature": 21.0}, ""),  # an alert from before, or an upload
    (None, ""),
    ({"heard": "Whimper"}, ""),
    ({"heard": [{"label": "", "score": 0.5}, {"label": "Whimper"}, {"score": 0.2}, None]}, ""),
    ({"heard": [{"label": "<b>Speech</b>", "score": 0.5}]}, "Heard: <b>Speech</b> 50 %"),
]


def test_heard_text_names_the_labels_with_percentages() -> None:
    node = node_executable()
    script = (
        f"import {{ heardText }} from {json.dumps(HEARD_JS.as_uri())};\n"
        f"const cases = {json.dumps([details for details, _ in CASES])};\n"
        "console.log(JSON.stringify(cases.map((details) => heardText(details))));\n"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [expected for _, expected in CASES]
