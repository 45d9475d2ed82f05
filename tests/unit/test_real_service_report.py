"""The real-service guard counts the TimescaleDB tier like the integration and e2e tiers: CI
fails when no test ran on TimescaleDB or some were skipped."""

from __future__ import annotations

from typing import Literal

import pytest

from tests.harness.reporting import RealServiceReport

Outcome = Literal["passed", "failed", "skipped"]


def _report(outcome: Outcome, *markers: str) -> pytest.TestReport:
    keywords: dict[str, Literal[1]] = dict.fromkeys(markers, 1)
    return pytest.TestReport("t.py::t", ("t.py", 0, "t"), keywords, outcome, None, "call")


def test_a_run_without_timescaledb_tests_is_a_problem() -> None:
    report = RealServiceReport()
    report.record(_report("passed", "integration"))
    report.record(_report("passed", "e2e"))
    assert report.problems() == ["no timescaledb test ran"]


def test_skipped_timescaledb_tests_are_a_problem() -> None:
    report = RealServiceReport()
    for markers in (("integration",), ("e2e",), ("integration", "timescaledb")):
        report.record(_report("passed", *markers))
    report.record(_report("skipped", "integration", "timescaledb"))
    assert report.problems() == [
        "1 integration test(s) were skipped",
        "1 timescaledb test(s) were skipped",
    ]
