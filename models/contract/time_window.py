"""Which device times the cloud accepts: not before the software existed, not in the future.

A message's ``ts`` is the device's clock. One reading dated 9999-12-31 used to be stored and
then, as the newest time the climate rules had considered, made them skip every real reading
of that device from then on; a reading dated 0001 or 1970 (a Raspberry Pi before NTP answered)
is no more a real time. The window is checked against the server's receive time, which the
caller passes in, so the check stays a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Nothing a Nursery device reports can predate the software (the device's own clock check,
# edge/timesync.py, calls an earlier system time implausible).
EARLIEST_DEVICE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
# How far a device clock may run ahead of the server's: NTP keeps both within a second, and
# the margin covers a device whose clock is a little fast without letting a broken one (or a
# forged message) date a reading into the future, where it would outrank every later one.
DEFAULT_MAX_AHEAD = timedelta(minutes=5)
# The widest window an operator may set (NURSERY_COLLECTOR_MAX_CLOCK_AHEAD_S): beyond it no
# device time is ever accepted, whatever the setting.
LARGEST_MAX_AHEAD = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The device times accepted at server time ``now``: ``earliest`` to ``now + max_ahead``."""

    max_ahead: timedelta = DEFAULT_MAX_AHEAD
    earliest: datetime = EARLIEST_DEVICE_TIME

    def latest(self, now: datetime) -> datetime:
        return now + self.max_ahead

    def problem(self, ts: datetime, now: datetime) -> str | None:
        """Why ``ts`` is outside the window at server time ``now``; None when it is inside."""
        if ts < self.earliest:
            return f"ts {ts.isoformat()} is before {self.earliest.isoformat()}"
        ahead = (ts - now).total_seconds()
        if ahead > self.max_ahead.total_seconds():
            return (
                f"ts {ts.isoformat()} is {ahead:.0f} s ahead of the server clock "
                f"(at most {self.max_ahead.total_seconds():.0f} s allowed)"
            )
        return None
