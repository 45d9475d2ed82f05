"""Bodies of the endpoints beyond the documented app contract: devices, sharing, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from cloud.api.not_a_cry_schemas import IgnoredRead, IgnoreListRead, NotACryMarkRead
from cloud.rules import NurserySettings, SettingsError, repair_stored_settings
from models.contract import ContractError, SettingValue, parse_device_settings

# A name people give a nursery: no control characters (they break logs and notifications).
DeviceName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    name: str | None
    role: Literal["owner", "caregiver"] = Field(description="the caller's role for this device")
    online: bool
    last_seen: datetime | None
    firmware_version: str | None
    model_version: str | None
    claimed_at: datetime | None
    nursery_settings: dict[str, object] = Field(
        description="safe ranges and grace periods the cloud's alert rules use"
    )

    @field_validator("nursery_settings")
    @classmethod
    def _settings_in_effect(cls, stored: dict[str, object]) -> dict[str, object]:
        # As the rules use them: values an older version stored out of range show clamped, and
        # unusable ones (NaN, unknown keys) not at all, since their defaults apply.
        clean, _problems = repair_stored_settings(stored)
        return dict(clean)

    device_settings: dict[str, object] = Field(
        description="settings pushed to the device (intervals, cry sensitivity)"
    )
    device_settings_revision: int
    reported_revision: int | None = Field(
        description="what the device last reported: the revision it applied or refused, and "
        "why (null until the device has answered a desired config)"
    )
    reported_accepted: bool | None = Field(
        description="whether the device applied reported_revision (false: it refused it)"
    )
    reported_error: str | None = Field(
        description="why the device refused reported_revision; null when it applied it"
    )
    reported_at: datetime | None = Field(description="the device's time of its last report")
    reported_settings: dict[str, object] | None = Field(
        description="the settings the device said it runs with in its last report"
    )
    ignore_list: IgnoreListRead | None = Field(
        default=None,
        description='the sounds the monitor is told to ignore ("not a cry" marks, newest '
        "first) and what it reported of its list (docs/api.md, Not a cry)",
    )


class DeviceSettingsRead(DeviceRead):
    delivery: Literal["sent", "queued", "not_configured", "unchanged"] = Field(
        description="what happened to the device settings: handed to the broker, queued until "
        "the broker is reachable, no broker configured for this API, or no device settings sent"
    )


class DeviceClaim(BaseModel):
    claim_code: str = Field(min_length=1, max_length=32, examples=["ABCDE-12345"])
    name: DeviceName | None = None


class DeviceRename(BaseModel):
    name: DeviceName


class DeviceSettingsUpdate(BaseModel):
    """Either part may be left out; a part that is given replaces the stored one."""

    nursery: dict[str, float] | None = Field(
        default=None,
        examples=[{"temperature_min_c": 18.0, "temperature_max_c": 22.0}],
        description="temperature_min_c, temperature_max_c, humidity_min_pct, humidity_max_pct, "
        "climate_grace_s, offline_grace_s, sick_body_temperature_c, cry_escalate_after_s, "
        "loud_sound_escalate_after_s, offline_escalate_after_s, alarm_cooldown_s; each a finite "
        "number within its range (docs/api.md, Nursery settings)",
    )
    device: dict[str, SettingValue] | None = Field(
        default=None,
        examples=[{"cry_sensitivity": 0.6, "telemetry_interval_s": 10}],
        description="telemetry_interval_s, status_interval_s, cry_detection_enabled, "
        "cry_sensitivity, cry_min_duration_s, cry_cooldown_s (docs/protocol.md)",
    )

    # Checked here, so a bad value is a 422 like any other invalid input, with the key and its
    # range in the message; the collector also repairs stored values it cannot use.
    @field_validator("nursery")
    @classmethod
    def _nursery_in_range(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            try:
                NurserySettings.from_mapping(value)
            except SettingsError as exc:
                raise _setting_error(exc) from None
        return value

    @field_validator("device")
    @classmethod
    def _device_as_the_device_checks(
        cls, value: dict[str, SettingValue] | None
    ) -> dict[str, SettingValue] | None:
        if value is not None:
            try:
                parse_device_settings(value)
            except ContractError as exc:
                raise _setting_error(exc) from None
        return value


def _setting_error(exc: ValueError) -> PydanticCustomError:
    # The message as written ("offline_grace_s: must be between 0 and 86400 seconds"), without
    # pydantic's "Value error, " in front: it is shown to parents as it is.
    return PydanticCustomError("invalid_setting", "{reason}", {"reason": str(exc)})


class CaregiverInvite(BaseModel):
    email: EmailStr


class CaregiverRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    email: str
    name: str | None
    role: Literal["owner", "caregiver"]
    added_at: datetime


class InviteAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str = (
        "If an account exists for this address it now has access to the nursery; "
        "otherwise ask the person to register first and invite them again."
    )


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str | None
    kind: str
    time: datetime
    created_at: datetime
    message: str
    sick_detected: bool
    details: dict[str, object]
    read: bool
    # When the message that raised it reached the server (device time is `time`, commit time
    # is `created_at`).
    received_at: datetime | None = None
    # Alarms stay open until acknowledged (POST /alerts/{id}/ack) and escalate meanwhile.
    needs_ack: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = None
    escalation_level: int = 0


class UnreadCount(BaseModel):
    unread: int


# Alert ids are BIGINT (PostgreSQL) / 64-bit INTEGER (SQLite): a larger one cannot exist, and
# sent to the database it fails the query instead of matching nothing.
AlertId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class MarkRead(BaseModel):
    alert_ids: list[AlertId] | None = Field(
        default=None, max_length=1000, description="omit to mark every visible alert read"
    )


class MarkedRead(BaseModel):
    marked: int


class HeardLabelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    label: str = Field(description='a sound class of the detector, e.g. "Baby cry, infant cry"')
    score: float = Field(description="how strongly the detector heard it, 0 to 1")


class CryEpisodeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    episode_id: int
    started_at: datetime
    ended_at: datetime | None
    confidence: float
    duration_s: float | None
    sound_dbfs: float | None
    end_reason: str | None = Field(
        default=None,
        description="Why the episode ended without the detector hearing it end: null for an"
        " ordinary end (and while still crying); device_restarted when the monitor lost power"
        " or crashed mid-cry and closed the episode on its next start, at the last time it"
        " knew it was alive; became_a_cry when an episode the monitor was ignoring (it sounded"
        " like a sound marked not a cry) turned into crying it was sure of: a new, alerting"
        " episode starts at that moment. A short lowercase word; more reasons may be added.",
    )
    heard: list[HeardLabelRead] = Field(
        default_factory=list,
        description="What the detector heard besides its cry score: its top labels (at most 5),"
        " best first - the end's (the whole episode) once ended, else the start's. Empty when"
        " the monitor named nothing (older firmware, a model without labels). Labels and"
        " scores only: no audio leaves the home.",
    )
    ignored: IgnoredRead | None = Field(
        default=None,
        description="Set when the monitor did not alert on this episode because it sounded"
        ' like one the home marked "not a cry": which one, when it was marked and how alike.'
        " Null for an episode it alerted on.",
    )
    not_a_cry: NotACryMarkRead | None = Field(
        default=None,
        description='Set while this episode is marked "not a cry": when and by whom. Null'
        " when it is not marked (or the mark was undone).",
    )


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class AlertTransitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    time: datetime
    transition: str = Field(description="raised, escalated (to user_id) or acknowledged (by)")
    user_id: int | None
    level: int


class DeliveryStatsRead(BaseModel):
    """How promptly this device's alerts reached its caregivers over the last 24 hours."""

    model_config = ConfigDict(from_attributes=True)

    device_id: str
    last_seen: datetime | None
    last_heard_s: float | None = Field(description="seconds since the device was last heard")
    alerts: int
    unacknowledged: int
    delay_p50_s: float | None = Field(description="device event -> first on a caregiver's screen")
    delay_p95_s: float | None
    ack_p50_s: float | None = Field(description="alert committed -> acknowledged")
    ack_p95_s: float | None


class GapRead(BaseModel):
    """A stretch without data ("no data 02:10-02:25, device offline")."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    start: datetime
    end: datetime | None = Field(description="null while it lasts")
    reason: str = Field(description="offline or missing_messages")
    first_seq: int | None
    last_seq: int | None
    closed_at: datetime | None = Field(description="set when replayed data filled it")
