"""Who gets which push (pure):

- nobody, for what wakes nobody (``is_pushed``): a cry the monitor ignored because it sounded
  like one the family marked "not a cry" is listed and shown on open screens only;
- a raised alert: every subscription of its recipients (the same people its sockets reach);
- an escalated one: every subscription of ``alert.targets``, as a new row at its level;
- an acknowledgement: every subscription whose alert push the push service accepted - the
  phones that may be showing the alarm - with purpose ``acknowledged`` (the notification is
  replaced by "Acknowledged"), while its pending alert pushes are cancelled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable

from cloud.rules import AlertKind
from cloud.storage.push_records import PushClaim, PushDelivery, PushPurpose, PushSubscription
from cloud.storage.records import StoredAlert

# Kinds that reach sockets and the alert list but never a locked phone.
UNPUSHED_KINDS = frozenset({AlertKind.CRY_IGNORED.value})


def is_pushed(alert: StoredAlert) -> bool:
    return alert.kind not in UNPUSHED_KINDS


def purpose_of(alert: StoredAlert) -> PushPurpose:
    return "acknowledged" if alert.announcement == "acknowledged" else "alert"


def claims_for(
    alert: StoredAlert,
    subscriptions: Iterable[PushSubscription],
    users: Collection[int],
    channels: Collection[str],
) -> list[PushClaim]:
    """One claim per subscription of ``users`` on a channel this server can send to."""
    return [
        PushClaim(
            alert.id, alert.escalation_level, purpose_of(alert), sub.id, sub.user_id, sub.channel
        )
        for sub in subscriptions
        if sub.user_id in users and sub.channel in channels
    ]


def acknowledged_targets(alert_rows: Iterable[PushDelivery]) -> list[int]:
    """The subscriptions an acknowledgement goes to: those whose alert push was accepted."""
    return sorted({
        row.subscription_id
        for row in alert_rows
        if row.purpose == "alert" and row.accepted_at is not None and row.subscription_id
    })  # fmt: skip


def as_sent(alert: StoredAlert, delivery: PushDelivery) -> StoredAlert:
    """The announcement a delivery row carries, rebuilt from the stored alert (a retry, or a
    follow-up): its level, and raised/escalated/acknowledged by its purpose and level."""
    if delivery.purpose == "acknowledged":
        announcement = "acknowledged"
    else:
        announcement = "escalated" if delivery.escalation_level > 0 else "raised"
    return dataclasses.replace(
        alert, escalation_level=delivery.escalation_level, announcement=announcement
    )
