"""A TimescaleDB server for tests: the production database, run for real.

Where it comes from, in order:

1. ``NURSERY_TEST_TIMESCALEDB_URL``: any database on a server that has TimescaleDB preloaded
   (a fresh database is created beside it), e.g. the compose image's.
2. A private cluster from a PostgreSQL copy with TimescaleDB added by ``install.sh`` of the
   ready-built TimescaleDB in the development material (tests/harness/external_material.py).
   The copy is cached under the venv, so only the first run pays for it.

Without either, :class:`ServiceUnavailableError` says so in one line; the fixture turns that into
a skip, or a failure under CI.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.harness.errors import ServiceUnavailableError
from tests.harness.external_material import SHARED_DIR_VARIABLE, material_path, shown_path
from tests.harness.postgres import PrivateCluster, database_on

TIMESCALEDB_VERSION = "2.17.2"
# What a server needs to run TimescaleDB (telemetry off: tests never phone home). PostgreSQL's
# default of 8 worker processes is shared by the launcher, one scheduler per database, the jobs
# and parallel query workers; a test session keeps several databases on one server, and a job
# that finds no free worker is recorded as failed ("failed to start job"), so the pool is sized
# as timescaledb-tune would size it for TimescaleDB's 16 background workers.
PRELOAD_SETTINGS = {
    "shared_preload_libraries": "timescaledb",
    "timescaledb.telemetry_level": "off",
    "timescaledb.max_background_workers": "16",
    "max_worker_processes": "27",
}
# What the scheduler records when it found no free worker for a run; it retries straight away.
FAILED_TO_START = "failed to start job"
JOB_WAIT_S = 60.0
SERVER_URL_VARIABLE = "NURSERY_TEST_TIMESCALEDB_URL"
INSTALL_SCRIPT = "timescaledb/install.sh"


def _install_script() -> Path | None:
    """The ready-built TimescaleDB among the development material (external_material.py)."""
    candidate = material_path(INSTALL_SCRIPT)
    return candidate if candidate.is_file() else None


def _cache_prefix() -> Path:
    # Under the venv (inside the checkout) rather than ~/.cache: when the tests run as root,
    # the cluster runs as the postgres user, who cannot enter /root.
    return Path(sys.prefix) / f"timescaledb-{TIMESCALEDB_VERSION}"


def timescaledb_bin_dir() -> Path:
    """The bin folder of a PostgreSQL copy with TimescaleDB, installed on first use."""
    script = _install_script()
    if script is None:
        raise ServiceUnavailableError(
            f"TimescaleDB is not available: set {SERVER_URL_VARIABLE}, or have the ready-built "
            f"TimescaleDB at {shown_path(INSTALL_SCRIPT)} (development material, not in the "
            f"repository; {SHARED_DIR_VARIABLE} points elsewhere)"
        )
    prefix = _cache_prefix()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    # Test workers (pytest-xdist) start their clusters at the same time: one installs the copy
    # while the others wait, instead of deleting and copying over each other's half-made copy.
    with open(prefix.with_name(prefix.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            [str(script), str(prefix)], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        raise ServiceUnavailableError(f"TimescaleDB: {script} failed: {result.stderr.strip()}")
    return Path(result.stdout.strip().splitlines()[-1])


@contextmanager
def timescaledb_cluster(preload: bool = True) -> Iterator[PrivateCluster]:
    """A started private cluster with TimescaleDB installed (preloaded unless told otherwise);
    stopped and deleted after."""
    cluster = PrivateCluster(timescaledb_bin_dir())
    try:
        cluster.initialize()
        cluster.start(**(PRELOAD_SETTINGS if preload else {}))
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        cluster.remove()


@contextmanager
def timescaledb_server() -> Iterator[str]:
    """The URL of a server (its maintenance database) with TimescaleDB preloaded."""
    server_url = os.environ.get(SERVER_URL_VARIABLE)
    if server_url:
        try:
            with psycopg.connect(server_url, connect_timeout=3) as conn:
                row = conn.execute("SHOW shared_preload_libraries").fetchone()
        except psycopg.OperationalError as exc:
            raise ServiceUnavailableError(f"{SERVER_URL_VARIABLE} is not reachable: {exc}") from exc
        if row is None or "timescaledb" not in str(row[0]):
            raise ServiceUnavailableError(f"{SERVER_URL_VARIABLE}'s server does not preload it")
        yield server_url
        return
    with timescaledb_cluster() as cluster:
        yield cluster.url


@contextmanager
def fresh_timescaledb_database() -> Iterator[str]:
    """A new, empty database on its own TimescaleDB server (for tests that need one alone)."""
    with timescaledb_server() as server_url, database_on(server_url) as url:
        yield url


def run_job_now(conn: psycopg.Connection[tuple[object, ...]], job_id: int) -> None:
    """Have the scheduler run the job now (as it would when due) and wait for it to finish."""
    asked = conn.execute("SELECT now()").fetchone()
    assert asked is not None
    conn.execute("SELECT alter_job(%s, next_start => now())", (job_id,))
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT last_run_status, job_status FROM timescaledb_information.job_stats"
            " WHERE job_id = %s AND last_run_started_at >= %s",
            (job_id, asked[0]),
        ).fetchone()
        # No status yet: the run has started (and not got far enough to say it runs).
        if row is not None and row[0] is not None and row[1] != "Running":
            if row[0] == "Success":
                return
            errors = _job_errors(conn, job_id, asked[0])
            # Not a run at all: no worker was free, and the scheduler tries again at once.
            if not errors or any(
                not str(message).startswith(FAILED_TO_START) for _, message in errors
            ):
                raise AssertionError(f"job {job_id}: {row}: {errors}")
        time.sleep(0.2)
    raise AssertionError(
        f"the scheduler did not run job {job_id} within {JOB_WAIT_S} s: "
        f"{_job_errors(conn, job_id, asked[0])[-3:]}"
    )


def _job_errors(
    conn: psycopg.Connection[tuple[object, ...]], job_id: int, since: object
) -> list[tuple[object, ...]]:
    """What the job's failed runs since `since` reported (SQLSTATE and message)."""
    return conn.execute(
        "SELECT sqlerrcode, err_message FROM timescaledb_information.job_errors"
        " WHERE job_id = %s AND start_time >= %s ORDER BY start_time",
        (job_id, since),
    ).fetchall()


def job_id(conn: psycopg.Connection[tuple[object, ...]], proc: str, table: str) -> int:
    row = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs"
        " WHERE proc_name = %s AND hypertable_name = %s",
        (proc, table),
    ).fetchone()
    assert row is not None, f"no {proc} job on {table}"
    return int(str(row[0]))
