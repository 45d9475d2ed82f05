"""What storage keeps about push: the subscriptions users registered and every push request the
API made for an alert (docs/api.md, "Push notifications")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PushPurpose = Literal["alert", "acknowledged"]
PushStatus = Literal["sending", "retrying", "accepted", "failed", "expired", "cancelled"]
# At most this many subscriptions per user: registering one more removes the oldest.
MAX_SUBSCRIPTIONS_PER_USER = 20


@dataclass(frozen=True, slots=True)
class NewPushSubscription:
    """A subscription as a browser hands it over (``PushSubscription.toJSON()``), checked."""

    user_id: int
    channel: str
    endpoint: str
    p256dh: str
    auth: str
    label: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class PushSubscription:
    id: int
    user_id: int
    channel: str
    endpoint: str
    p256dh: str
    auth: str
    label: str | None
    user_agent: str | None
    created_at: datetime
    updated_at: datetime
    last_success_at: datetime | None
    last_failure_at: datetime | None
    failures: int


@dataclass(frozen=True, slots=True)
class PushClaim:
    """One push the pipeline wants to own: inserted unless another process did first."""

    alert_id: int
    escalation_level: int
    purpose: PushPurpose
    subscription_id: int
    user_id: int
    channel: str


@dataclass(frozen=True, slots=True)
class PushDelivery:
    id: int
    alert_id: int
    escalation_level: int
    purpose: PushPurpose
    subscription_id: int | None
    user_id: int | None
    channel: str
    status: PushStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    acknowledged_at: datetime | None
    last_status: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class PushJob:
    """A claimed delivery, now ``sending`` under a lease, with the subscription to send to (None
    when it was deleted meanwhile: nothing left to send to)."""

    delivery: PushDelivery
    subscription: PushSubscription | None


@dataclass(frozen=True, slots=True)
class PushResult:
    """How one attempt ended, to record on its row (and its subscription)."""

    delivery_id: int
    # The attempt this result belongs to: a row re-claimed after its lease passed has moved
    # on, and the late result of the earlier attempt is then ignored.
    attempt: int
    status: PushStatus
    at: datetime
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One line of ``GET /alerts/{id}/deliveries``: a socket write or a push request."""

    channel: str
    user_id: int | None
    escalation_level: int
    purpose: PushPurpose
    subscription_id: int | None
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    acknowledged_at: datetime | None
    last_status: int | None
    error: str | None
