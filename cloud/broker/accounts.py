"""Device accounts in Mosquitto's password file, applied at once with a reload.

The broker is the only judge of who may connect, so provisioning writes straight into its
password file (``password_file`` in ``mosquitto/mosquitto.conf``) and sends the broker SIGHUP.
On that reload Mosquitto re-reads the file *and disconnects every connected client whose
account is gone* (measured with 2.0.11: the client sees its connection close and a reconnect
gets CONNACK 135), which is what revoking a device needs.

Several API processes may provision at once: every change holds an exclusive ``flock`` on a
lock file beside the password file, rewrites the file to a temporary one and renames it into
place, so the broker never reads half a file and no change overwrites another. Lines we do not
manage (service accounts, comments) are kept as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cloud.broker.passwords import hash_password

logger = logging.getLogger(__name__)


class BrokerAccountsError(RuntimeError):
    """The broker's accounts could not be changed or reloaded; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class MosquittoAccounts:
    password_file: Path
    # Mosquitto's ``pid_file``: whom to send SIGHUP.
    pid_file: Path

    def set_password(self, username: str, password: str, *, reload: bool = True) -> None:
        """Add the account, or replace its password, and make the broker use it now (unless
        ``reload`` is False: before the broker's first start there is nothing to reload)."""
        _check_username(username)
        entry = f"{username}:{hash_password(password)}"
        with self._locked():
            lines = [line for line in self._read() if _user_of(line) != username]
            self._write([*lines, entry])
        if reload:
            self.reload()
        logger.info("broker account %s set", username)

    def remove(self, username: str, *, reload: bool = True) -> bool:
        """Delete the account and make the broker drop its connections; False if it was not
        in the file. The broker is reloaded either way: an earlier removal whose reload failed
        takes effect now."""
        _check_username(username)
        with self._locked():
            lines = self._read()
            kept = [line for line in lines if _user_of(line) != username]
            if len(kept) != len(lines):
                self._write(kept)
        if reload:
            self.reload()
        logger.info("broker account %s removed", username)
        return len(kept) != len(lines)

    def usernames(self) -> list[str]:
        return [user for line in self._read() if (user := _user_of(line))]

    def reload(self) -> None:
        """SIGHUP the broker: it re-reads the password file and drops removed accounts."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise BrokerAccountsError(
                f"cannot read the broker's pid from {self.pid_file} ({exc}); is Mosquitto "
                f"running with `pid_file {self.pid_file}`? The change is saved in "
                f"{self.password_file} and takes effect when the broker reloads or restarts"
            ) from exc
        try:
            os.kill(pid, signal.SIGHUP)
        except OSError as exc:
            raise BrokerAccountsError(
                f"cannot signal the broker (pid {pid} from {self.pid_file}): {exc.strerror}; "
                "the API must run as the broker's user and share its process namespace"
            ) from exc

    def _read(self) -> list[str]:
        try:
            return self.password_file.read_text().splitlines()
        except FileNotFoundError:
            return []

    def _write(self, lines: list[str]) -> None:
        directory = self.password_file.parent
        descriptor, temporary = tempfile.mkstemp(prefix=".passwd-", dir=directory)
        try:
            # mkstemp creates the file 0600: hashes are not for other users to read. An existing
            # file keeps its owner and its owner/group access (the broker's user must still read
            # it when an operator runs this with sudo) - never access for everyone else.
            with contextlib.suppress(FileNotFoundError):
                current = os.stat(self.password_file)
                os.fchmod(descriptor, stat.S_IMODE(current.st_mode) & 0o660)
                with contextlib.suppress(PermissionError):
                    os.fchown(descriptor, current.st_uid, current.st_gid)
            with os.fdopen(descriptor, "w") as handle:
                handle.write("".join(f"{line}\n" for line in lines))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.password_file)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.password_file.with_name(self.password_file.name + ".lock")
        try:
            handle = lock_path.open("a")
        except OSError as exc:
            raise BrokerAccountsError(
                f"cannot open {lock_path}: {exc.strerror}; the password file's folder must be "
                "writable by this process"
            ) from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def _user_of(line: str) -> str | None:
    if not line or line.startswith("#") or ":" not in line:
        return None
    return line.split(":", 1)[0]


def _check_username(username: str) -> None:
    # A ':' or a line break would corrupt the file for every other account.
    if not username or any(ch in username for ch in ":\n\r"):
        raise BrokerAccountsError(f"invalid broker user name {username!r}")
