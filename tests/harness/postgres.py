"""A fresh PostgreSQL database for one test session.

Where the server comes from, in order: ``NURSERY_TEST_DATABASE_URL`` (any database on the server
to use; a fresh database is created beside it), the local server on 127.0.0.1:5432 as user
``postgres``, or a private cluster started here with initdb/pg_ctl (as the ``postgres`` user
when running as root, since PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.harness.errors import ServiceUnavailableError
from tests.harness.network import free_port

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
INSTALL_HINT = "install PostgreSQL with: apt-get install postgresql (Debian/Ubuntu)"


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ServiceUnavailableError(f"expected a postgresql:// URL, got {parts.scheme or url!r}")
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def _pg_binary(name: str, bin_dir: Path | None = None) -> str:
    if bin_dir is not None:
        return str(bin_dir / name)
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if found is None:
        raise ServiceUnavailableError(
            f"no PostgreSQL server is reachable and {name} is missing; {INSTALL_HINT}, "
            "or set NURSERY_TEST_DATABASE_URL"
        )
    return found


class PrivateCluster:
    """A throw-away cluster in ``workdir`` listening on a free loopback port.

    ``bin_dir`` picks the PostgreSQL build (default: the system's); ``settings`` are server
    settings passed on every start (``start`` can add more for one start, e.g. a preload).
    """

    def __init__(self, bin_dir: Path | None = None, settings: dict[str, str] | None = None) -> None:
        self._initdb = _pg_binary("initdb", bin_dir)
        self._pg_ctl = _pg_binary("pg_ctl", bin_dir)
        self._settings = dict(settings or {})
        # Not under pytest's private temp folder: the postgres user must be able to reach it.
        self.workdir = Path(tempfile.mkdtemp(prefix="nursery-pg-"))
        self.datadir = self.workdir / "pgdata"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.workdir, user="postgres")

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceUnavailableError(
                f"{' '.join(argv[:2])} failed: {result.stderr.strip() or result.stdout.strip()}"
            )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def initialize(self) -> None:
        self._run(
            self._initdb, "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )

    def start(self, **settings: str) -> str:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir}"
        for name, value in {**self._settings, **settings}.items():
            options += f" -c {name}={value}"
        log = str(self.datadir / "server.log")
        self._run(self._pg_ctl, "-D", str(self.datadir), "-o", options, "-w", "-l", log, "start")
        return self.url

    def stop(self) -> None:
        self._run(self._pg_ctl, "-D", str(self.datadir), "-m", "fast", "stop")

    def remove(self) -> None:
        """Delete the cluster's files (after stop)."""
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def fresh_database() -> Iterator[str]:
    """Yield the URL of a new, empty database; dropped (and any private cluster stopped) after."""
    cluster: PrivateCluster | None = None
    server_url = os.environ.get("NURSERY_TEST_DATABASE_URL")
    if server_url:
        if not _reachable(server_url):
            raise ServiceUnavailableError("NURSERY_TEST_DATABASE_URL is set but not reachable")
    elif _reachable(LOCAL_SERVER_URL):
        server_url = LOCAL_SERVER_URL
    else:
        cluster = PrivateCluster()
        cluster.initialize()
        server_url = cluster.start()
    try:
        with database_on(server_url) as url:
            yield url
    finally:
        if cluster is not None:
            cluster.stop()
            cluster.remove()


@contextmanager
def database_on(server_url: str) -> Iterator[str]:
    """Yield the URL of a new, empty database on the server at ``server_url``; dropped after."""
    dbname = f"nursery_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield _with_dbname(server_url, dbname)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
