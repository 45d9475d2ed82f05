"""Proof that the real-service tiers ran: counted per outcome, enforced by --require-real-services.

CI must not pass a run in which the integration or end-to-end tests were skipped or never
collected (a missing broker would otherwise look like a green build). The tier of tests that
need development material outside the repository (``needs_material``, see external_material.py)
is counted too, and required under CI only: on a user's clone it skips by design.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.harness.external_material import MARKER as MATERIAL_MARKER

REAL_SERVICE_MARKERS = ("integration", "e2e")
TIERS = (*REAL_SERVICE_MARKERS, MATERIAL_MARKER)
REPORT_PATH = Path("test-artifacts") / "real-service-tests.json"


def required_tiers(ci: bool) -> tuple[str, ...]:
    return TIERS if ci else REAL_SERVICE_MARKERS


class RealServiceReport:
    def __init__(self) -> None:
        self.outcomes: dict[str, Counter[str]] = {tier: Counter() for tier in TIERS}

    def record(self, report: pytest.TestReport) -> None:
        counted = report.when == "call" or (report.when == "setup" and not report.passed)
        if not counted:
            return
        # A test that needs material belongs to that tier alone: on a clone it skips, which
        # must not read as a skipped integration test.
        if MATERIAL_MARKER in report.keywords:
            self.outcomes[MATERIAL_MARKER][report.outcome] += 1
            return
        for marker in REAL_SERVICE_MARKERS:
            if marker in report.keywords:
                self.outcomes[marker][report.outcome] += 1

    def problems(self, tiers: tuple[str, ...] = REAL_SERVICE_MARKERS) -> list[str]:
        found = []
        for tier in tiers:
            counts = self.outcomes[tier]
            if counts["passed"] + counts["failed"] == 0:
                found.append(f"no {tier} test ran")
            if counts["skipped"]:
                found.append(f"{counts['skipped']} {tier} test(s) were skipped")
        return found

    def write(self, root: Path) -> Path:
        path = root / REPORT_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({t: dict(c) for t, c in self.outcomes.items()}, indent=2))
        return path
