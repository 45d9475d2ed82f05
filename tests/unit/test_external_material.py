"""The tier of tests that need development material outside the repository: skipped with one
line on a clone without it, failed under CI, and counted by the real-service guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.external_material import (
    TRAINING_CORPUS,
    check_material,
    material_path,
    shared_dir,
    under_ci,
)
from tests.harness.reporting import RealServiceReport, required_tiers

REPO = Path(__file__).resolve().parents[2]
CORPUS_REASON = (
    "needs the training corpus at ../shared/data/audio "
    "(development material, not in the repository)"
)
# A test of the tier that skips before any fixture or service starts.
MARKED_TEST = (
    "tests/integration/test_cry_model_quality.py::test_clip_level_floors_on_the_test_split"
)


def test_the_material_is_looked_up_beside_the_repository_unless_overridden(
    tmp_path: Path,
) -> None:
    assert shared_dir({}) == REPO.parent / "shared"
    assert material_path("timescaledb", {}) == REPO.parent / "shared" / "timescaledb"
    assert material_path("data/audio", {"NURSERY_SHARED_DIR": str(tmp_path)}) == (
        tmp_path / "data" / "audio"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("yes", True), ("", False), ("false", False), ("0", False)],
)
def test_ci_is_what_ci_services_set(value: str, expected: bool) -> None:
    assert under_ci({"CI": value}) is expected
    assert under_ci({}) is False


def test_missing_material_skips_with_one_line_on_a_clone(tmp_path: Path) -> None:
    # As on a user's clone: nothing beside the repository (an empty override stands for that).
    check = check_material(TRAINING_CORPUS, "the training corpus", {"NURSERY_SHARED_DIR": ""})
    if material_path(TRAINING_CORPUS, {}).exists():
        assert check.action == "run"
    else:
        assert (check.action, check.reason) == ("skip", CORPUS_REASON)
    empty = {"NURSERY_SHARED_DIR": str(tmp_path)}
    check = check_material(TRAINING_CORPUS, "the training corpus", empty)
    assert check.action == "skip"
    assert check.reason == (
        f"needs the training corpus at {tmp_path / 'data' / 'audio'} "
        "(development material, not in the repository)"
    )
    assert "\n" not in check.reason


def test_missing_material_fails_under_ci(tmp_path: Path) -> None:
    environ = {"NURSERY_SHARED_DIR": str(tmp_path), "CI": "true"}
    check = check_material(TRAINING_CORPUS, "the training corpus", environ)
    assert check.action == "fail"
    assert "CI must have it" in check.reason
    assert "NURSERY_SHARED_DIR" in check.reason


def test_present_material_runs(tmp_path: Path) -> None:
    (tmp_path / "data" / "audio").mkdir(parents=True)
    for ci in ("", "true"):
        environ = {"NURSERY_SHARED_DIR": str(tmp_path), "CI": ci}
        assert check_material(TRAINING_CORPUS, "the corpus", environ).action == "run"


def _run_marked_test(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["NURSERY_SHARED_DIR"] = str(tmp_path)  # empty: the material is missing
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", MARKED_TEST, "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_marked_test_skips_without_material_and_fails_under_ci(tmp_path: Path) -> None:
    """The wiring in tests/conftest.py, through a real pytest run of a marked test."""
    skipped = _run_marked_test(tmp_path, ci=None)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "1 skipped" in skipped.stdout, skipped.stdout
    assert "needs the training corpus at " in skipped.stdout, skipped.stdout
    failed = _run_marked_test(tmp_path, ci="true")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "1 error" in failed.stdout, failed.stdout  # failed in setup, before any fixture
    assert "CI must have it" in failed.stdout, failed.stdout


def _report(outcome: str, *keywords: str) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid="tests/integration/test_x.py::test_x",
        location=("tests/integration/test_x.py", 1, "test_x"),
        keywords=dict.fromkeys(keywords, 1),
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=None,
        when="call",
    )


def test_the_guard_requires_the_material_tiers_under_ci_only() -> None:
    report = RealServiceReport()
    report.record(_report("passed", "integration"))
    report.record(_report("passed", "e2e"))
    # Skipped for lack of material: neither a skipped integration test nor one that ran.
    report.record(_report("skipped", "integration", "needs_material"))
    report.record(_report("skipped", "integration", "timescaledb"))
    assert report.problems(required_tiers(ci=False)) == []
    assert report.problems(required_tiers(ci=True)) == [
        "no needs_material test ran",
        "1 needs_material test(s) were skipped",
        "no timescaledb test ran",
        "1 timescaledb test(s) were skipped",
    ]
    ran = RealServiceReport()
    for keywords in (
        ("integration",),
        ("e2e",),
        ("integration", "needs_material"),
        ("integration", "timescaledb"),
    ):
        ran.record(_report("passed", *keywords))
    assert ran.problems(required_tiers(ci=True)) == []
