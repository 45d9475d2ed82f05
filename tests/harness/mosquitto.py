"""A private Mosquitto broker started from the project's ``mosquitto/test.conf``.

Authentication and the ACL are the project's own (``mosquitto/acl``); users are added with
``mosquitto_passwd`` and picked up with a SIGHUP, as an operator would. As in production the ACL
file the broker reads is rendered from ``mosquitto/acl`` with a block per service instance
account (``svc.<role>.<instance>``, ``cloud.broker.acl``), and the autosave setting is
production's (``mosquitto/mosquitto.conf``).
"""

from __future__ import annotations

import getpass
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from cloud.broker.acl import render_acl
from tests.harness.errors import ServiceUnavailableError
from tests.harness.mqtt import probe
from tests.harness.network import free_port, wait_for_port

REPO_ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_DIR = REPO_ROOT / "mosquitto"
INSTALL_HINT = "install it with: apt-get install mosquitto (Debian/Ubuntu)"
START_TIMEOUT_S = 10.0
AUTOSAVE_KEYS = ("autosave_interval", "autosave_on_changes")
# An account only the harness uses, to see that a reload has landed (no ACL grants: it can
# connect and nothing else).
RELOAD_PROBE_USER = "harness.reload-probe"
RELOAD_TIMEOUT_S = 10.0


def production_autosave() -> list[str]:
    """The autosave lines of ``mosquitto/mosquitto.conf``."""
    lines = (MOSQUITTO_DIR / "mosquitto.conf").read_text().splitlines()
    return [line for line in lines if line.split(" ", 1)[0] in AUTOSAVE_KEYS]


def _require_binary(name: str) -> str:
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if path is None:
        raise ServiceUnavailableError(
            f"{name} is required for the integration tests; {INSTALL_HINT}"
        )
    return path


class MosquittoBroker:
    def __init__(self, workdir: Path, autosave: list[str] | None = None) -> None:
        """``autosave``: config lines replacing production's autosave setting (benchmarks)."""
        self._mosquitto = _require_binary("mosquitto")
        self._passwd = _require_binary("mosquitto_passwd")
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.password_file = workdir / "passwd"
        self.password_file.touch(mode=0o600)
        self.acl_file = workdir / "acl"
        self._write_acl()
        self.config_file = workdir / "mosquitto.conf"
        self.port = free_port()
        self.host = "127.0.0.1"
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config(autosave)

    def _write_acl(self) -> None:
        usernames = [
            line.split(":", 1)[0]
            for line in self.password_file.read_text().splitlines()
            if ":" in line
        ]
        self.acl_file.write_text(render_acl((MOSQUITTO_DIR / "acl").read_text(), usernames))

    def _write_config(self, autosave: list[str] | None = None) -> None:
        template = (MOSQUITTO_DIR / "test.conf").read_text()
        config = (
            template.replace("@PORT@", str(self.port))
            .replace("@PASSWORD_FILE@", str(self.password_file))
            .replace("@ACL_FILE@", str(self.acl_file))
            .replace("@AUTOSAVE@", "\n".join(autosave or production_autosave()))
            .replace("@DATA_DIR@", str(self.data_dir))
            .replace("@USER@", getpass.getuser())
        )
        self.config_file.write_text(config)

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "mosquitto.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "mosquitto.log"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self._mosquitto, "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if not wait_for_port(self.port, START_TIMEOUT_S):
            stderr = b""
            if self._process.poll() is not None and self._process.stderr is not None:
                stderr = self._process.stderr.read()
            self.stop()
            raise ServiceUnavailableError(
                f"mosquitto did not start on port {self.port}: {stderr.decode(errors='replace')}"
            )

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL, as a crash: the broker saves nothing on the way out."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def add_user(self, username: str, password: str) -> None:
        """Add or replace a broker account and make the running broker reload it."""
        self.add_users({username: password})

    def add_users(self, accounts: dict[str, str]) -> None:
        """Add or replace several accounts with one reload, and return once the running broker
        accepts them."""
        # The reload probe's password changes with every reload: the broker accepts it only
        # once it has read this password file, with the accounts above in it.
        probe_password = secrets.token_urlsafe(16)
        for username, password in {**accounts, RELOAD_PROBE_USER: probe_password}.items():
            subprocess.run(
                [self._passwd, "-b", str(self.password_file), username, password],
                check=True,
                capture_output=True,
            )
        self._write_acl()
        self._reload(probe_password)

    def _reload(self, probe_password: str) -> None:
        """SIGHUP, then wait until the reload has happened. Mosquitto reloads asynchronously,
        in its main loop: a fixed pause was too short on a busy machine, where a service
        started just after an account was added was refused as not authorized."""
        if self._process is None:
            return  # the next start reads the files
        self._process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while not self._accepts(RELOAD_PROBE_USER, probe_password):
            if time.monotonic() > deadline:
                raise ServiceUnavailableError(
                    f"mosquitto on port {self.port} did not reload its accounts within "
                    f"{RELOAD_TIMEOUT_S:g} s (log: {self.log_file})"
                )
            time.sleep(0.05)

    def _accepts(self, username: str, password: str) -> bool:
        with probe(self.host, self.port, username, username, password) as client:
            return not client.connect(self.host, self.port).is_failure
