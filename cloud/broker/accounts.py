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

With an ACL template configured, every change also rewrites the broker's ACL file: an instance
account ``svc.<role>.<instance>`` gets a copy of its role's grants (``cloud.broker.acl``).
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

from cloud.broker.acl import AclTemplateError, render_acl
from cloud.broker.passwords import hash_password

logger = logging.getLogger(__name__)


class BrokerAccountsError(RuntimeError):
    """The broker's accounts could not be changed or reloaded; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class MosquittoAccounts:
    password_file: Path
    # Mosquitto's ``pid_file``: whom to send SIGHUP.
    pid_file: Path
    # Both or neither: the ACL with the roles' blocks (``mosquitto/acl``) and the ACL file the
    # broker reads, rewritten from it with a block per instance account on every change.
    acl_template: Path | None = None
    acl_file: Path | None = None

    def set_password(self, username: str, password: str, *, reload: bool = True) -> None:
        """Add the account, or replace its password, and make the broker use it now (unless
        ``reload`` is False: before the broker's first start there is nothing to reload)."""
        _check_username(username)
        entry = f"{username}:{hash_password(password)}"
        with self._locked():
            lines = [*(line for line in self._read() if _user_of(line) != username), entry]
            # Rendered first: an account the ACL cannot grant is refused before it is written.
            acl = self._render_acl(lines)
            self._write(lines)
            self._write_acl(acl)
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
            acl = self._render_acl(kept)
            if len(kept) != len(lines):
                self._write(kept)
            self._write_acl(acl)
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

    def _render_acl(self, lines: list[str]) -> str | None:
        """The ACL for the accounts in ``lines``; None without a template configured."""
        if self.acl_template is None or self.acl_file is None:
            return None
        try:
            template = self.acl_template.read_text()
        except OSError as exc:
            raise BrokerAccountsError(
                f"cannot read the ACL template {self.acl_template}: {exc.strerror}"
            ) from exc
        try:
            return render_acl(template, [user for line in lines if (user := _user_of(line))])
        except AclTemplateError as exc:
            raise BrokerAccountsError(str(exc)) from exc

    def _write_acl(self, text: str | None) -> None:
        if text is not None and self.acl_file is not None:
            _replace_file(self.acl_file, text, self.password_file)

    def _write(self, lines: list[str]) -> None:
        _replace_file(self.password_file, "".join(f"{line}\n" for line in lines), None)

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


def _replace_file(path: Path, text: str, like: Path | None) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed into place), keeping the
    owner and mode of ``path``, or of ``like`` when ``path`` does not exist yet."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        # mkstemp creates the file 0600: hashes are not for other users to read. An existing
        # file keeps its owner and its owner/group access (the broker's user must still read
        # it when an operator runs this with sudo) - never access for everyone else.
        for model in (path, like):
            if model is None:
                continue
            try:
                current = os.stat(model)
            except FileNotFoundError:
                continue
            os.fchmod(descriptor, stat.S_IMODE(current.st_mode) & 0o660)
            with contextlib.suppress(PermissionError):
                os.fchown(descriptor, current.st_uid, current.st_gid)
            break
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _user_of(line: str) -> str | None:
    if not line or line.startswith("#") or ":" not in line:
        return None
    return line.split(":", 1)[0]


def _check_username(username: str) -> None:
    # A ':' or a line break would corrupt the file for every other account.
    if not username or any(ch in username for ch in ":\n\r"):
        raise BrokerAccountsError(f"invalid broker user name {username!r}")
