"""Test-suite wiring: tiers by folder, real-service fixtures, and the real-service guard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ServiceUnavailableError
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.postgres import fresh_database
from tests.harness.reporting import RealServiceReport
from tests.harness.services import BrokerAccount, create_account

REPO_ROOT = Path(__file__).resolve().parents[1]
_report = RealServiceReport()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-real-services",
        action="store_true",
        help="fail the run unless integration and e2e tests ran against real services, unskipped",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in ("integration", "e2e"):
            item.add_marker(parts[1])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _report.record(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not session.config.getoption("--require-real-services"):
        return
    path = _report.write(REPO_ROOT)
    problems = _report.problems()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"REAL-SERVICE GUARD FAILED: {'; '.join(problems)}", red=True)
    elif reporter is not None:
        reporter.write_line(f"real-service guard: {_report.outcomes} (written to {path})")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    try:
        broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))
        broker.start()
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def collector_account(mosquitto: MosquittoBroker) -> BrokerAccount:
    return create_account(mosquitto, "svc.collector")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with fresh_database() as url:
            yield url
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that read settings from the environment start from none of ours."""
    for key in list(os.environ):
        if key.startswith(("NURSERY_", "MQTT_", "JWT_")) or key == "DATABASE_URL":
            monkeypatch.delenv(key, raising=False)
