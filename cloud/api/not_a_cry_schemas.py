"""Bodies of the "not a cry" endpoints (cloud/api/routes/not_a_cry.py) and the fields they add
to devices and cry episodes (docs/api.md, "Not a cry")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.api.device_config import Delivery
from cloud.storage.records import IgnoreListState


class IgnoredRead(BaseModel):
    """Why the monitor did not alert on a cry episode."""

    model_config = ConfigDict(from_attributes=True)

    like_episode_id: int = Field(description="the marked episode it sounded like")
    marked_at: datetime = Field(description='when that episode was marked "not a cry"')
    similarity: float = Field(description="how alike the two sounds were, 0 to 1")


class NotACryMarkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    episode_id: int = Field(description="the device's cry episode (its cry_started's seq)")
    marked_at: datetime
    marked_by_name: str | None = Field(
        description="the name of the caregiver who marked it (null without a name, or once "
        "that account is deleted)"
    )


class DeviceIgnoreListRead(BaseModel):
    """The list as the monitor last reported it in its status."""

    size: int | None = Field(description="how many marked sounds the monitor compares against")
    changed_at: datetime | None = Field(description="when the monitor's list last changed")
    revision: int | None = Field(description="the list revision the monitor has applied")
    unknown: list[int] = Field(
        description="marked episodes the monitor has no sound for (too old, or recorded by "
        "another model): they change nothing"
    )


class IgnoreListRead(BaseModel):
    """A nursery's sounds to ignore: the marks the monitor is sent, newest first."""

    revision: int = Field(description="raised by every change; the monitor applies each once")
    marks: list[NotACryMarkRead]
    device: DeviceIgnoreListRead | None = Field(
        description="what the monitor reported of its list; null until it has reported one"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_state(cls, value: Any) -> Any:
        if not isinstance(value, IgnoreListState):
            return value
        reported = value.device_revision is not None or value.device_size is not None
        device = (
            {
                "size": value.device_size,
                "changed_at": value.device_changed_at,
                "revision": value.device_revision,
                "unknown": list(value.device_unknown),
            }
            if reported
            else None
        )
        return {"revision": value.revision, "marks": value.marks, "device": device}


class IgnoreListChanged(IgnoreListRead):
    delivery: Delivery = Field(
        description="what happened to the whole list sent to the monitor (retained on "
        "nursery/v1/<id>/ignore/desired): sent to the broker, queued until the broker is "
        "reachable, or not_configured (this API has no broker)"
    )
