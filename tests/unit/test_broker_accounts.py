"""Mosquitto's $7$ password hashes and the password-file rewrite used by provisioning."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.broker.accounts import BrokerAccountsError, MosquittoAccounts
from cloud.broker.passwords import PasswordFormatError, hash_password, verify_password

# Written by `mosquitto_passwd -b passwd dev1 secret1` (Mosquitto 2.0.11).
MOSQUITTO_PASSWD_LINE = (
    "dev1:$7$101$1/eQodGf72duD/LA$9FkEt+Yf8QBMNUE6Sw68trgOGAoimOtAhStk20LTgpCrd6uWpl8j5tJo4Vnn"
    "I01oPZCBgRdCDutONgi08/Qerw=="
)


def test_a_hash_written_by_mosquitto_passwd_verifies() -> None:
    stored = MOSQUITTO_PASSWD_LINE.split(":", 1)[1]
    assert verify_password("secret1", stored)
    assert not verify_password("secret2", stored)


def test_our_hash_has_mosquittos_shape_and_verifies() -> None:
    stored = hash_password("correct horse", salt=b"\x00" * 12)
    prefix, iterations, salt, key = stored.split("$")[1:]
    assert (prefix, iterations) == ("7", "101")
    assert salt == "AAAAAAAAAAAAAAAA"  # 12 zero bytes in base64
    assert len(key) == 88  # 64 bytes in base64
    assert verify_password("correct horse", stored)
    assert hash_password("correct horse") != hash_password("correct horse"), "random salt"


def test_a_foreign_hash_format_is_refused() -> None:
    with pytest.raises(PasswordFormatError):
        verify_password("x", "$6$abc$def")


def _sleeper() -> subprocess.Popen[bytes]:
    """A process standing in for the broker: it records that SIGHUP arrived."""
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGHUP, lambda *a: (print('reloaded', flush=True), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    return process


def test_set_and_remove_keep_other_lines_and_signal_the_broker(tmp_path: Path) -> None:
    password_file = tmp_path / "passwd"
    password_file.write_text("# service accounts\nsvc.collector:$7$101$abc$def\n")
    broker = _sleeper()
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n")
    accounts = MosquittoAccounts(password_file, pid_file)
    try:
        accounts.set_password("nursery-a", "first-password")
        assert broker.wait(10) == 0
        assert broker.stdout is not None
        assert broker.stdout.read() == b"reloaded\n"
    finally:
        if broker.poll() is None:
            broker.send_signal(signal.SIGKILL)
    accounts.set_password("nursery-b", "second-password", reload=False)
    accounts.set_password("nursery-a", "replaced-password", reload=False)

    lines = password_file.read_text().splitlines()
    assert lines[:2] == ["# service accounts", "svc.collector:$7$101$abc$def"]
    assert accounts.usernames() == ["svc.collector", "nursery-b", "nursery-a"]
    entry = dict(line.split(":", 1) for line in lines[1:])
    assert verify_password("replaced-password", entry["nursery-a"])
    # Written 0644 above: the rewrite keeps owner and group access, never others'.
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o640

    pid_file.write_text("")  # the broker stopped and removed its pid file
    with pytest.raises(BrokerAccountsError, match="pid"):
        accounts.remove("nursery-b")  # written, but not applied: say so
    assert accounts.usernames() == ["svc.collector", "nursery-a"]
    assert accounts.remove("nursery-b", reload=False) is False


def test_a_new_password_file_is_private(tmp_path: Path) -> None:
    accounts = MosquittoAccounts(tmp_path / "passwd", tmp_path / "pid")
    accounts.set_password("nursery-a", "first-password", reload=False)
    assert stat.S_IMODE(os.stat(tmp_path / "passwd").st_mode) == 0o600


def test_a_user_name_that_would_corrupt_the_file_is_refused(tmp_path: Path) -> None:
    accounts = MosquittoAccounts(tmp_path / "passwd", tmp_path / "pid")
    with pytest.raises(BrokerAccountsError, match="invalid broker user name"):
        accounts.set_password("evil:name", "x", reload=False)
