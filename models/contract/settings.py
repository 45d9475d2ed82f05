"""The device settings the cloud may change remotely (the ``settings`` of a desired config).

Both sides import this model: the API validates what parents enter before it publishes a
desired config, and the device validates what it receives before it applies anything. Every
field is optional in a desired config - a revision names only what it changes - and unknown
keys are refused, so a typo is reported back instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.contract.topics import ContractError


class DeviceSettings(BaseModel):
    """What a device runs with; the defaults are what a new device starts with."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)

    # Seconds between room readings (temperature, humidity, sound level summary).
    telemetry_interval_s: float = Field(default=10.0, ge=1.0, le=3600.0)
    # Seconds between status heartbeats (health counters, outbox depth).
    status_interval_s: float = Field(default=60.0, ge=5.0, le=3600.0)
    cry_detection_enabled: bool = True
    # 0.5 is the model's calibrated operating point; higher catches fainter or less typical
    # cries at the price of more false alarms, lower alarms only on the clearest cries.
    cry_sensitivity: float = Field(default=0.5, ge=0.0, le=1.0)
    # A cry must last this long before it is reported.
    cry_min_duration_s: float = Field(default=0.5, ge=0.0, le=10.0)
    # After an episode ends, new onsets are ignored this long (one alarm per fussing bout).
    cry_cooldown_s: float = Field(default=10.0, ge=0.0, le=600.0)
    # The loud-sound fallback: sound above loud_sound_dbfs (the meter's 100 ms block level) for
    # loud_sound_s seconds is reported as a `loud_sound` event even when the model hears no cry,
    # so a cry missed under a fan or a white-noise machine still wakes someone.
    loud_sound_enabled: bool = True
    loud_sound_dbfs: float = Field(default=-25.0, ge=-60.0, le=0.0)
    loud_sound_s: float = Field(default=5.0, ge=1.0, le=600.0)

    @model_validator(mode="before")
    @classmethod
    def _ints_are_numbers(cls, data: Any) -> Any:
        # Strict mode keeps "10" or true from passing as numbers; but JSON and TOML write 10 for
        # ten, and a whole number must still be accepted for a float setting.
        if isinstance(data, Mapping):
            return {
                key: float(value)
                if isinstance(value, int)
                and not isinstance(value, bool)
                and cls.model_fields.get(key) is not None
                and cls.model_fields[key].annotation is float
                else value
                for key, value in data.items()
            }
        return data

    def merged(self, changes: Mapping[str, object]) -> DeviceSettings:
        """These settings with ``changes`` applied; raises ContractError naming a bad key."""
        return parse_device_settings({**self.model_dump(), **changes})

    def changed_from(self, other: DeviceSettings) -> dict[str, object]:
        mine, theirs = self.model_dump(), other.model_dump()
        return {key: value for key, value in mine.items() if theirs[key] != value}


def parse_device_settings(values: Mapping[str, object]) -> DeviceSettings:
    """Validate a full or partial settings mapping; the error names the first offending key."""
    try:
        return DeviceSettings.model_validate(dict(values))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "settings"
            message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{key}: {message}")
        raise ContractError("; ".join(problems)) from exc
