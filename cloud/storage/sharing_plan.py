"""The backend-independent rules of devices, sharing and refresh tokens.

postgres/ and sqlite/ load the facts (a member's role, a token's row) and ask these functions
what they mean, so both backends refuse, order and answer exactly alike.
"""

from __future__ import annotations

from datetime import datetime

from cloud.storage.interface import AccessDeniedError, NotFoundError
from cloud.storage.records import DeviceSummary, MemberRole, RefreshUse

OWNER: MemberRole = "owner"
CAREGIVER: MemberRole = "caregiver"
# Each backend adds its own placeholders for the user (and device) to this column list.
SUMMARY_COLUMNS = (
    "d.device_id, d.name, m.role, d.online, d.last_seen, d.firmware_version, d.model_version,"
    " d.claimed_at, d.settings AS nursery_settings, d.device_settings,"
    " d.device_settings_revision"
)
# Owner first, then caregivers in the order they joined.
MEMBER_ORDER = "CASE m.role WHEN 'owner' THEN 0 ELSE 1 END, m.added_at, m.user_id"


def require_member(role: MemberRole | None) -> MemberRole:
    """A caller without a role is not shown the device at all."""
    if role is None:
        raise NotFoundError("device")
    return role


def require_owner(role: MemberRole | None) -> None:
    if require_member(role) != OWNER:
        raise AccessDeniedError("only the device's owner may do this")


def check_removal(
    caller_id: int, caller_role: MemberRole | None, member_id: int, member_role: MemberRole | None
) -> None:
    """The owner removes caregivers, a caregiver only themself, nobody the owner. A caregiver
    naming someone else is refused before learning whether that someone is a member."""
    if require_member(caller_role) != OWNER and member_id != caller_id:
        raise AccessDeniedError("a caregiver may remove only themself")
    if member_role is None:
        raise NotFoundError("user", "no such member of this device")
    if member_role == OWNER:
        raise AccessDeniedError("the owner cannot be removed; unclaim the device instead")


def device_order(device: DeviceSummary) -> tuple[str, str]:
    """Sorted in Python, not SQL: PostgreSQL's collation and SQLite's byte order disagree."""
    return ((device.name or device.device_id).casefold(), device.device_id)


def refresh_outcome(
    expires_at: datetime, used_at: datetime | None, revoked_at: datetime | None, now: datetime
) -> RefreshUse:
    """What presenting a stored refresh token means; ``reused`` obliges the caller to revoke
    the token's family."""
    if revoked_at is not None:
        return "revoked"
    if expires_at <= now:
        return "expired"
    if used_at is not None:
        return "reused"
    return "ok"
