"""The real-service guard counts the TimescaleDB tier on its own and requires it under CI: CI
fails when no test ran on TimescaleDB or some were skipped, while a clone without the
TimescaleDB build (its tests skipped) still has a clean report."""

from __future__ import annotations

from typing import Literal

import pytest

from tests.harness.reporting import RealServiceReport, required_tiers

Outcome = Literal["passed", "failed", "skipped"]


def _report(outcome: Outcome, *markers: str) -> pytest.TestReport:
    keywords: dict[str, Literal[1]] = dict.fromkeys(markers, 1)
    return pytest.TestReport("t.py::t", ("t.py", 0, "t"), keywords, outcome, None, "call")


def _passed_everywhere_but_timescaledb() -> RealServiceReport:
    report = RealServiceReport()
    for markers in (("integration",), ("e2e",), ("integration", "needs_material")):
        report.record(_report("passed", *markers))
    return report


def test_under_ci_a_run_without_timescaledb_tests_is_a_problem() -> None:
    report = _passed_everywhere_but_timescaledb()
    assert report.problems(required_tiers(ci=True)) == ["no timescaledb test ran"]
    assert report.problems(required_tiers(ci=False)) == []


def test_skipped_timescaledb_tests_count_in_their_own_tier() -> None:
    report = _passed_everywhere_but_timescaledb()
    report.record(_report("passed", "integration", "timescaledb"))
    report.record(_report("skipped", "integration", "timescaledb"))
    # Not a skipped integration test: on a clone without the build this is by design.
    assert report.problems(required_tiers(ci=False)) == []
    assert report.problems(required_tiers(ci=True)) == ["1 timescaledb test(s) were skipped"]
