"""Proof that the real-service tiers ran: counted per outcome, enforced by --require-real-services.

CI must not pass a run in which the integration or end-to-end tests, or the tests on TimescaleDB,
were skipped or never collected (a missing broker would otherwise look like a green build).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import NoReturn

import pytest

# "timescaledb": the tests that ran on the production database (tests/conftest.py marks them).
REAL_SERVICE_MARKERS = ("integration", "e2e", "timescaledb")
REPORT_PATH = Path("test-artifacts") / "real-service-tests.json"


class RealServiceReport:
    def __init__(self) -> None:
        self.outcomes: dict[str, Counter[str]] = {m: Counter() for m in REAL_SERVICE_MARKERS}

    def record(self, report: pytest.TestReport) -> None:
        counted = report.when == "call" or (report.when == "setup" and not report.passed)
        if not counted:
            return
        for marker in REAL_SERVICE_MARKERS:
            if marker in report.keywords:
                self.outcomes[marker][report.outcome] += 1

    def problems(self) -> list[str]:
        found = []
        for marker, counts in self.outcomes.items():
            if counts["passed"] + counts["failed"] == 0:
                found.append(f"no {marker} test ran")
            if counts["skipped"]:
                found.append(f"{counts['skipped']} {marker} test(s) were skipped")
        return found

    def write(self, root: Path) -> Path:
        path = root / REPORT_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({m: dict(c) for m, c in self.outcomes.items()}, indent=2))
        return path


def services_unavailable(reason: str) -> NoReturn:
    """A real service a test needs is missing: under CI (``CI`` set) that fails the test,
    elsewhere it is skipped with the one-line reason (a bare clone still runs its tests)."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)
