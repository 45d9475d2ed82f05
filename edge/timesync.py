"""Is the system clock right? Shared by ``nursery-edge check`` and the running daemon.

A Raspberry Pi has no battery-backed clock: until NTP answers it runs on the time saved at the
last shutdown (fake-hwclock) or on 1970. Plausible-looking but unsynchronised time is still
wrong, so synchronisation is checked too wherever the system can say. Readings and cry events
carry the device's time, so a wrong clock puts them at the wrong moment in the parents' history.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

# Nothing this software reports can predate its own release.
MIN_YEAR = 2025
# systemd-timesyncd creates this file once it has synchronised the clock.
TIMESYNC_MARKER = Path("/run/systemd/timesync/synchronized")
_QUERY_TIMEOUT_S = 3.0
# The daemon asks this often: synchronisation changes on a scale of minutes (network up, NTP
# answers), and asking runs a program that may take up to _QUERY_TIMEOUT_S.
CHECK_INTERVAL_S = 300.0


def timedatectl_query() -> list[str] | None:
    path = shutil.which("timedatectl")
    return [path, "show", "-p", "NTPSynchronized", "--value"] if path else None


def ntp_synchronised(
    marker: Path = TIMESYNC_MARKER, query: Sequence[str] | None = None
) -> bool | None:
    """True or False when the system can tell, None when it cannot (no systemd, a container).

    ``query`` is a command printing "yes" or "no"; by default ``timedatectl show``, which also
    covers chrony and other services that report to systemd-timedated.
    """
    if marker.exists():
        return True
    command = list(query) if query is not None else timedatectl_query()
    if command is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - a fixed command, no user input
            command, capture_output=True, text=True, timeout=_QUERY_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = result.stdout.strip().lower()
    if result.returncode != 0 or answer not in ("yes", "no"):
        return None  # e.g. "System has not been booted with systemd"
    return answer == "yes"


def shown(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock_problem(now: datetime, synchronised: bool | None) -> str | None:
    """What is wrong with the clock, in a sentence; None when it is right or nobody can tell."""
    if now.year < MIN_YEAR:
        return f"system time {shown(now)} is not plausible (before {MIN_YEAR})"
    if synchronised is False:
        return f"system time {shown(now)}, not synchronised by NTP"
    return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ClockMonitor:
    """The daemon's view of the clock: asks at the first ``poll`` and every ``interval_s``."""

    def __init__(
        self,
        synchronised: Callable[[], bool | None] = ntp_synchronised,
        *,
        wall_clock: Callable[[], datetime] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self._synchronised = synchronised
        self._wall_clock = wall_clock
        self._clock = clock
        self._interval_s = interval_s
        self._next_at: float | None = None
        self.problem: str | None = None

    def poll(self) -> None:
        """Check the clock if it is time to; cheap otherwise. Call from one thread."""
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return
        self._next_at = now + self._interval_s
        problem = clock_problem(self._wall_clock(), self._synchronised())
        if problem != self.problem:
            if problem is None:
                logger.info("system clock is fine again")
            else:
                logger.warning("system clock: %s", problem)
        self.problem = problem
