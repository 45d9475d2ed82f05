"""The clock check: readings and cry events carry the device's time, so it must be right.

What "right" means (plausible and, where the system can tell, synchronised by NTP) is
``edge.timesync``'s, which the running daemon uses for its ``clock`` fault; this adds the fixes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from edge.checks.result import CheckResult, Outcome
from edge.timesync import MIN_YEAR, clock_problem, ntp_synchronised, shown

NAME = "clock"
_SET_CLOCK_FIX = (
    "connect the device to the network so NTP can set the clock, and make sure time "
    "synchronisation is on: `sudo timedatectl set-ntp true`"
)
_SYNC_FIX = (
    "turn time synchronisation on (`sudo timedatectl set-ntp true`) and let UDP port 123 "
    "out through the firewall; right after boot, wait a minute and check again"
)


def judge_clock(now: datetime, synchronised: bool | None) -> CheckResult:
    problem = clock_problem(now, synchronised)
    if problem is not None:
        fix = _SET_CLOCK_FIX if now.year < MIN_YEAR else _SYNC_FIX
        return CheckResult(NAME, Outcome.FAIL, problem, fix)
    if synchronised is None:
        return CheckResult(
            NAME,
            Outcome.WARN,
            f"system time {shown(now)}; cannot tell whether NTP synchronised it",
            "make sure a time service runs (systemd-timesyncd: `timedatectl status`; chrony: "
            "`chronyc tracking`) so readings and cry events carry the right time",
        )
    return CheckResult(NAME, Outcome.PASS, f"system time {shown(now)}, synchronised by NTP")


def check_clock() -> CheckResult:
    return judge_clock(datetime.now(UTC), ntp_synchronised())
