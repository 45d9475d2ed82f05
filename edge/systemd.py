"""Telling systemd we are up, alive and stopping (``sd_notify``), for ``Type=notify`` units.

The protocol is one datagram to the socket named by ``$NOTIFY_SOCKET``; the unit's
``WatchdogSec=`` becomes ``$WATCHDOG_USEC``. A dozen lines of standard library are less to trust
than a dependency for this. Without ``$NOTIFY_SOCKET`` (run by hand, in tests) nothing is sent.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, socket_path: str | None, watchdog_usec: int | None) -> None:
        # An abstract socket ("@name") is addressed with a leading NUL byte.
        self._address = (
            "\0" + socket_path[1:] if socket_path and socket_path[0] == "@" else (socket_path)
        )
        self._watchdog_s = watchdog_usec / 1_000_000 if watchdog_usec else None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> SystemdNotifier:
        usec = env.get("WATCHDOG_USEC", "")
        return cls(env.get("NOTIFY_SOCKET") or None, int(usec) if usec.isdigit() else None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half the unit's WatchdogSec, as sd_watchdog_enabled(3) advises."""
        return self._watchdog_s / 2 if self._watchdog_s else None

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError as exc:
            logger.warning("cannot notify systemd (%s): %s", self._address.lstrip("\0"), exc)
