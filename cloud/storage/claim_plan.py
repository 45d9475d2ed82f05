"""Claim periods: which family a device's data belongs to, decided alike by both backends.

Data belongs to the claim period it was recorded in. A family sees what its device recorded
while the family held it, and nothing else: not what a previous family recorded, not what the
device recorded while nobody held it (at an installer's, or between two families), and - since
releasing a device (unclaiming it, or the operator giving it to someone else) takes it away from
every member - nothing at all once it has let go.

So the only period anyone can read is the device's current one, which starts at
``devices.history_from``: the claim time, or the last release if that is later (a period never
starts before the one before it ended, whichever clock said what). NULL means the device has been
held by its family since it was registered with them: there was no one before them.

A reading, event or alert is in the period when it was both recorded (device time, which the
time indexes serve) and received (server time) at or after its start. Device time alone would
let a device whose clock runs ahead carry an earlier family's minutes into the new period;
server time alone would hand a new family the outbox an earlier family's device replays after
the claim.
"""

from __future__ import annotations

from datetime import datetime


def claim_period_start(last_release: datetime | None, claimed_at: datetime) -> datetime:
    """The start of the period a claim (or an operator's change of owner) opens."""
    return claimed_at if last_release is None else max(last_release, claimed_at)


def in_claim_period(
    period_start: datetime | None, recorded_at: datetime, received_at: datetime
) -> bool:
    """Whether something recorded and received at these times belongs to the current period."""
    return period_start is None or (recorded_at >= period_start and received_at >= period_start)


def period_start_after_change(
    *, created: bool, new_owner: int | None, period_start: datetime | None, now: datetime
) -> datetime | None:
    """``devices.history_from`` after the operator registers a device to ``new_owner`` (a
    different owner than before). A device created for its owner right now has had no one
    before them: all of it is theirs (None). Any other change of hands - to a new owner or to
    nobody - ends the current period and, for a new owner, opens theirs."""
    if created and new_owner is not None:
        return None
    return claim_period_start(period_start, now)
