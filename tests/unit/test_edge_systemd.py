"""sd_notify messages reach a real datagram socket, as systemd would receive them."""

from __future__ import annotations

import socket
from pathlib import Path

from edge.systemd import SystemdNotifier


def test_ready_watchdog_and_stopping_are_sent_to_notify_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(2)
        notifier = SystemdNotifier.from_environment(
            {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"}
        )
        assert notifier.enabled
        assert notifier.watchdog_interval_s == 10.0
        notifier.ready("running")
        notifier.watchdog()
        notifier.stopping()
        received = [server.recv(1024).decode() for _ in range(3)]
    assert received == ["READY=1\nSTATUS=running", "WATCHDOG=1", "STOPPING=1"]


def test_without_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    notifier.ready()
    notifier.watchdog()


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path) -> None:
    SystemdNotifier(str(tmp_path / "gone"), None).watchdog()
