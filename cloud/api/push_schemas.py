"""Bodies of the push endpoints (cloud/api/routes/push.py) and of an alert's deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.api.device_schemas import DeviceName

# Channels a subscription may name: "webpush" today; native app tokens are the seam's next
# implementations and are refused with 422 until this server can send to them.
SubscriptionChannel = Literal["webpush", "fcm", "apns"]


class PushConfigRead(BaseModel):
    enabled: bool = Field(description="false when the server has no VAPID key configured")
    application_server_key: str | None = Field(
        description="the VAPID public key (base64url, 65-byte uncompressed P-256 point) to pass "
        "to pushManager.subscribe({applicationServerKey}); null when push is disabled"
    )
    channels: list[str] = Field(description="the subscription channels this server sends to")


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(
        min_length=1, max_length=200, description="the browser's P-256 public key, base64url"
    )
    auth: str = Field(
        min_length=1, max_length=100, description="the 16-byte auth secret, base64url"
    )


class PushSubscriptionCreate(BaseModel):
    """``PushSubscription.toJSON()`` as the browser gives it, plus ``channel`` and ``label``."""

    model_config = ConfigDict(populate_by_name=True)

    endpoint: str = Field(min_length=1, max_length=4096)
    expiration_time: Annotated[float, Field(allow_inf_nan=False)] | None = Field(
        default=None, alias="expirationTime", description="as the browser gives it; not used"
    )
    keys: SubscriptionKeys
    channel: SubscriptionChannel = "webpush"
    label: DeviceName | None = Field(
        default=None, description='what the caller calls this browser, e.g. "Anna\'s phone"'
    )


class PushSubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    endpoint_host: str = Field(description="the push service it points at (the URL is secret)")
    label: str | None
    created_at: datetime
    last_success_at: datetime | None = Field(description="last push the service accepted")
    last_failure_at: datetime | None
    failures: int = Field(description="failed attempts since the last accepted one")


class PushAck(BaseModel):
    token: str = Field(
        min_length=1,
        max_length=4096,
        description="the acknowledge token the alarm's push payload carried (ack.token)",
    )


class AlertDeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel: Literal["websocket", "webpush", "fcm", "apns"]
    user_id: int | None
    escalation_level: int
    purpose: Literal["alert", "acknowledged"]
    subscription_id: int | None = Field(description="the push subscription; null for websocket")
    status: Literal["sent", "sending", "retrying", "accepted", "failed", "expired", "cancelled"]
    attempts: int
    created_at: datetime = Field(description="when the pipeline took the alert")
    sent_at: datetime | None = Field(description="the socket write, or the last push request")
    accepted_at: datetime | None = Field(description="when the push service took the message")
    acknowledged_at: datetime | None = Field(
        description="when the alarm was acknowledged from this notification"
    )
    last_status: int | None = Field(description="the push service's last HTTP status")
    error: str | None
