"""`nursery-cloud api` as a real process, as end-to-end tests start it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.harness.mosquitto import MosquittoBroker
from tests.harness.network import free_port
from tests.harness.processes import ManagedProcess, console_script
from tests.harness.services import BrokerAccount


@dataclass(frozen=True)
class ApiProcess:
    process: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_api(
    database_url: str,
    jwt_secret: str,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    log_name: str = "api.log",
    global_options: Sequence[str] = (),
) -> ApiProcess:
    """Start one API process on a free port; uploads and its log go under ``workdir``.

    ``env`` adds to (or overrides) the settings every API needs; ``global_options`` go before
    the ``api`` command (e.g. ``--log-format json``)."""
    port = free_port()
    settings = {
        "DATABASE_URL": database_url,
        "JWT_SECRET": jwt_secret,
        "NURSERY_UPLOAD_DIR": str(workdir / "uploads"),
        **(env or {}),
    }
    argv = [console_script("nursery-cloud"), *global_options, "api", "--port", str(port)]
    return ApiProcess(ManagedProcess(argv, settings, workdir / log_name), port)


def wait_until_serving(apis: Sequence[ApiProcess], timeout_s: float = 30.0) -> None:
    for api in apis:
        api.process.wait_for_port(api.port, timeout_s)


def stop_all_cleanly(apis: Sequence[ApiProcess]) -> None:
    """Stop every process (all of them, even when one fails), then fail on any unclean exit."""
    unclean = [api.process.output() for api in apis if not api.process.stop_cleanly()]
    assert not unclean, "\n".join(unclean)


@contextmanager
def running_api(
    database_url: str,
    jwt_secret: str,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> Iterator[str]:
    """One API process for the ``with`` block; yields its base URL and fails the test if it
    does not stop cleanly."""
    api = start_api(database_url, jwt_secret, workdir, env=env)
    try:
        wait_until_serving([api], timeout_s)
        yield api.url
    finally:
        stop_all_cleanly([api])


def broker_settings(broker: MosquittoBroker, account: BrokerAccount) -> dict[str, str]:
    """The settings of an API process that publishes to devices with ``account``."""
    return {
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "MQTT_USERNAME": account.username,
        "MQTT_PASSWORD": account.password,
    }
