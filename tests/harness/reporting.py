"""Proof that the real-service tiers ran: counted per outcome, enforced by --require-real-services.

CI must not pass a run in which the integration or end-to-end tests were skipped or never
collected (a missing broker would otherwise look like a green build). Two more tiers need
development material outside the repository: ``needs_material`` (e.g. the training corpus, see
external_material.py) and ``timescaledb`` (the tests that ran on the production database, built
from that material; tests/conftest.py marks them). They are counted too, and required under CI
only: on a user's clone they skip by design.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import NoReturn

import pytest

from tests.harness.external_material import MARKER as MATERIAL_MARKER
from tests.harness.external_material import under_ci

REAL_SERVICE_MARKERS = ("integration", "e2e")
TIMESCALEDB_MARKER = "timescaledb"
# Tiers whose tests need material outside the repository: a test in one counts there alone.
MATERIAL_TIERS = (MATERIAL_MARKER, TIMESCALEDB_MARKER)
TIERS = (*REAL_SERVICE_MARKERS, *MATERIAL_TIERS)
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
        for tier in MATERIAL_TIERS:
            if tier in report.keywords:
                self.outcomes[tier][report.outcome] += 1
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


def services_unavailable(reason: str) -> NoReturn:
    """A service built from material outside the repository is missing: under CI that fails the
    test, elsewhere it is skipped with the one-line reason (a bare clone still runs its tests)."""
    if under_ci():
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)
