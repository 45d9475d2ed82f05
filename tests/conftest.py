"""Test-suite wiring: tiers by folder, real-service fixtures, and the real-service guard."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud.push.keys import VapidKeyPair, generate_vapid_keys
from tests.harness import ServiceUnavailableError
from tests.harness.collector import CollectorProcess
from tests.harness.external_material import guard_item, under_ci
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.network import free_port
from tests.harness.postgres import database_on, fresh_database
from tests.harness.processes import ManagedProcess, console_script
from tests.harness.push_service import LocalPushService
from tests.harness.reporting import (
    TIMESCALEDB_MARKER,
    RealServiceReport,
    required_tiers,
    services_unavailable,
)
from tests.harness.services import BrokerAccount, create_account, create_instance_account
from tests.harness.timescaledb import timescaledb_server

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMESCALEDB_FIXTURES = frozenset({"timescaledb_server_url", "timescaledb_url"})
_report = RealServiceReport()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-real-services",
        action="store_true",
        help="fail the run unless integration and e2e tests ran against real services, "
        "unskipped (under CI, the tests that need material outside the repository as well)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT).parts
        if len(parts) > 1 and parts[0] == "tests" and parts[1] in ("integration", "e2e"):
            item.add_marker(parts[1])
        if _uses_timescaledb(item):
            item.add_marker(TIMESCALEDB_MARKER)


def _uses_timescaledb(item: pytest.Item) -> bool:
    """A test runs on TimescaleDB when it asks for the server or is the TimescaleDB case of a
    backend-parametrised fixture (tests/integration/conftest.py)."""
    if TIMESCALEDB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and TIMESCALEDB_MARKER in callspec.params.values()


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Tests marked needs_material skip on a clone without the material, and fail under CI.
    guard_item(item)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _report.record(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Under pytest-xdist each worker sees only its share of the tests; the controller receives
    # every worker's reports (pytest_runtest_logreport above) and alone judges the whole run.
    # A worker's config has ``workerinput`` (what xdist.is_xdist_worker checks; xdist ships no
    # type information, so it is not imported here).
    if not session.config.getoption("--require-real-services") or hasattr(
        session.config, "workerinput"
    ):
        return
    path = _report.write(REPO_ROOT)
    problems = _report.problems(required_tiers(under_ci()))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"REAL-SERVICE GUARD FAILED: {'; '.join(problems)}", red=True)
    elif reporter is not None:
        reporter.write_line(f"real-service guard: {_report.outcomes} (written to {path})")


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Each test leaves the root logger as it found it. A CLI's main() calls
    logging.basicConfig, whose handler writes to the sys.stderr of that moment - under capsys a
    capture that is closed after the test - so a later test's log line would hit a closed file
    ("--- Logging error ---" on its stderr), depending on which tests ran before it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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


@pytest.fixture
def collector_account(mosquitto: MosquittoBroker) -> BrokerAccount:
    """An account with the collector's grants, fresh for each test: the broker keys a session
    by account (use_username_as_clientid), so a shared one would carry one test's persistent
    subscriptions, and what they queued, into the next."""
    return create_instance_account(mosquitto, "collector", uuid.uuid4().hex[:8])


@pytest.fixture(scope="session")
def api_account(mosquitto: MosquittoBroker) -> BrokerAccount:
    """The API's broker account (publishes desired config, reads reported config)."""
    return create_account(mosquitto, "svc.api")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with fresh_database() as url:
            yield url
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def timescaledb_server_url() -> Iterator[str]:
    """A TimescaleDB server (tests/harness/timescaledb.py) for the session, started on first use."""
    try:
        with timescaledb_server() as url:
            yield url
    except ServiceUnavailableError as exc:
        services_unavailable(str(exc))


@pytest.fixture(scope="session")
def timescaledb_url(timescaledb_server_url: str) -> Iterator[str]:
    """A fresh database on the session's TimescaleDB server."""
    with database_on(timescaledb_server_url) as url:
        yield url


@pytest.fixture(scope="module")
def vapid_keys() -> VapidKeyPair:
    """The API's VAPID key pair (its push identity), new for each test module."""
    return generate_vapid_keys()


@pytest.fixture
def push_service(vapid_keys: VapidKeyPair) -> Iterator[LocalPushService]:
    """A push service on 127.0.0.1 that accepts pushes signed with ``vapid_keys``."""
    with LocalPushService(application_server_key=vapid_keys.public_key) as service:
        yield service


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that read settings from the environment start from none of ours."""
    for key in list(os.environ):
        if key.startswith(("NURSERY_", "MQTT_", "JWT_")) or key == "DATABASE_URL":
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def start_collector(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> Iterator[Callable[..., CollectorProcess]]:
    started: list[CollectorProcess] = []
    # The broker keys a session by account (use_username_as_clientid): one account per
    # collector instance, the same one again when a test restarts "the same" collector.
    accounts: dict[str, BrokerAccount] = {}

    def start(database_url: str, client_id: str, share_group: str) -> CollectorProcess:
        if client_id not in accounts:
            accounts[client_id] = create_instance_account(mosquitto, "collector", client_id)
        account = accounts[client_id]
        port = free_port()
        process = ManagedProcess(
            [console_script("nursery-cloud"), "collector"],
            {
                "DATABASE_URL": database_url,
                "MQTT_HOST": mosquitto.host,
                "MQTT_PORT": str(mosquitto.port),
                "MQTT_USERNAME": account.username,
                "MQTT_PASSWORD": account.password,
                "NURSERY_COLLECTOR_CLIENT_ID": client_id,
                "NURSERY_COLLECTOR_SHARE_GROUP": share_group,
                "NURSERY_COLLECTOR_HTTP_PORT": str(port),
            },
            tmp_path / f"{client_id}-{len(started)}.log",
        )
        collector = CollectorProcess(process, port)
        started.append(collector)
        collector.wait_ready()
        return collector

    yield start
    for collector in started:
        collector.process.stop()
