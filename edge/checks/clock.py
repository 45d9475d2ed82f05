"""The clock check: readings and cry events carry the device's time, so it must be right.

A Raspberry Pi has no battery-backed clock: until NTP answers it runs on the time saved at the
last shutdown (fake-hwclock) or on 1970. Plausible-looking but unsynchronised time is still
wrong, so synchronisation is checked too wherever the system can say.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from edge.checks.result import CheckResult, Outcome

NAME = "clock"
# Nothing this software reports can predate its own release.
MIN_YEAR = 2025
# systemd-timesyncd creates this file once it has synchronised the clock.
TIMESYNC_MARKER = Path("/run/systemd/timesync/synchronized")
_QUERY_TIMEOUT_S = 3.0


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


def judge_clock(now: datetime, synchronised: bool | None) -> CheckResult:
    shown = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if now.year < MIN_YEAR:
        return CheckResult(
            NAME,
            Outcome.FAIL,
            f"system time {shown} is not plausible (before {MIN_YEAR})",
            "connect the device to the network so NTP can set the clock, and make sure time "
            "synchronisation is on: `sudo timedatectl set-ntp true`",
        )
    if synchronised is False:
        return CheckResult(
            NAME,
            Outcome.FAIL,
            f"system time {shown}, not synchronised by NTP",
            "turn time synchronisation on (`sudo timedatectl set-ntp true`) and let UDP port 123 "
            "out through the firewall; right after boot, wait a minute and check again",
        )
    if synchronised is None:
        return CheckResult(
            NAME,
            Outcome.WARN,
            f"system time {shown}; cannot tell whether NTP synchronised it",
            "make sure a time service runs (systemd-timesyncd: `timedatectl status`; chrony: "
            "`chronyc tracking`) so readings and cry events carry the right time",
        )
    return CheckResult(NAME, Outcome.PASS, f"system time {shown}, synchronised by NTP")


def check_clock() -> CheckResult:
    return judge_clock(datetime.now(UTC), ntp_synchronised())
