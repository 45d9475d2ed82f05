"""What "safe" means in one nursery: the alert rules' settings, their ranges, and how stored
settings are read (validated when a person enters them, repaired when older versions stored
them unbounded). Pure apart from a warning logged once per bad stored document."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)


class SettingsError(ValueError):
    """Nursery settings with an unknown key or an invalid value; the message names the key."""


@dataclass(frozen=True, slots=True)
class NurserySettings:
    """What "safe" means in one nursery. Defaults follow common paediatric guidance for a
    baby's room (16 to 22 °C, 30 to 60 % relative humidity)."""

    temperature_min_c: float = 16.0
    temperature_max_c: float = 22.0
    humidity_min_pct: float = 30.0
    humidity_max_pct: float = 60.0
    # A reading out of range must persist this long before it alerts (a door opened briefly).
    climate_grace_s: float = 300.0
    offline_grace_s: float = 120.0
    # Body temperature above which a crying baby "may be sick" (backend-design.md).
    sick_body_temperature_c: float = 38.0
    # Alarms stay open until a caregiver acknowledges them; unacknowledged for this long they
    # are sent again and escalated to the next caregiver in the nursery's order.
    cry_escalate_after_s: float = 60.0
    loud_sound_escalate_after_s: float = 60.0
    offline_escalate_after_s: float = 600.0
    # After an alarm, the same kind from the same device does not raise a new one for this
    # long (device time): a long crying bout is one alarm, not a storm.
    alarm_cooldown_s: float = 120.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> NurserySettings:
        """Settings a person entered: anything unknown, not a finite number or outside its
        range (``SETTING_RANGES``) is refused with a message naming the key."""
        for key, value in values.items():
            if key not in SETTING_RANGES:
                raise SettingsError(f"{key}: unknown nursery setting")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{key}: must be a number, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{key}: must be a finite number")
            # Compared before float(): an integer too large for a float must not raise here.
            if not SETTING_RANGES[key].low <= value <= SETTING_RANGES[key].high:
                raise SettingsError(f"{key}: {SETTING_RANGES[key].describe()}")
        settings = replace(cls(), **{k: float(v) for k, v in values.items()})
        problem = settings._inconsistency()
        if problem is not None:
            raise SettingsError(problem)
        return settings

    @classmethod
    def from_stored(cls, values: object) -> tuple[NurserySettings, list[str]]:
        """Settings as stored, which older versions did not bound (``repair_stored_settings``):
        a bad stored value can never stop the rules. Returns the settings and what was
        repaired (empty when the document was valid)."""
        clean, problems = repair_stored_settings(values)
        return replace(cls(), **clean), problems

    def _inconsistency(self) -> str | None:
        if self.temperature_min_c >= self.temperature_max_c:
            return "temperature_min_c: must be below temperature_max_c"
        if self.humidity_min_pct >= self.humidity_max_pct:
            return "humidity_min_pct: must be below humidity_max_pct"
        return None


@dataclass(frozen=True, slots=True)
class SettingRange:
    low: float
    high: float
    unit: str

    def describe(self) -> str:
        return f"must be between {self.low:g} and {self.high:g} {self.unit}"


# What a parent may set (docs/api.md, "Nursery settings"). Bounded so that every value is one a
# nursery could mean, and so that no value can overflow the time arithmetic of the rules (a
# grace period of 1e300 s once stopped the collector's offline check).
DAY_S = 86_400.0
SETTING_RANGES: dict[str, SettingRange] = {
    # The room: from a cold room to a hot one; the default range is 16-22 °C.
    "temperature_min_c": SettingRange(0.0, 40.0, "°C"),
    "temperature_max_c": SettingRange(0.0, 40.0, "°C"),
    "humidity_min_pct": SettingRange(0.0, 100.0, "%"),
    "humidity_max_pct": SettingRange(0.0, 100.0, "%"),
    # Up to an hour out of range before the climate alert; up to a day offline before
    # DEVICE_OFFLINE.
    "climate_grace_s": SettingRange(0.0, 3_600.0, "seconds"),
    "offline_grace_s": SettingRange(0.0, DAY_S, "seconds"),
    # The baby's body temperature (from the app) above which crying "may be sick".
    "sick_body_temperature_c": SettingRange(36.0, 42.0, "°C"),
    "cry_escalate_after_s": SettingRange(1.0, DAY_S, "seconds"),
    "loud_sound_escalate_after_s": SettingRange(1.0, DAY_S, "seconds"),
    "offline_escalate_after_s": SettingRange(1.0, DAY_S, "seconds"),
    # A longer silence after an alarm would hide a new crying bout.
    "alarm_cooldown_s": SettingRange(0.0, 3_600.0, "seconds"),
}


_RANGE_KEYS = ("temperature_min_c", "temperature_max_c", "humidity_min_pct", "humidity_max_pct")


def repair_stored_settings(values: object) -> tuple[dict[str, float], list[str]]:
    """The usable part of a stored settings document and what was wrong with the rest: a value
    out of its range is clamped to it; an unknown key, or a value that is not a finite number,
    is left out (its default applies); min/max pairs that contradict each other are left out
    (the default ranges apply). What the collector's rules use and what the API shows."""
    if not isinstance(values, Mapping):
        return {}, [f"not a settings object ({type(values).__name__}); defaults apply"]
    clean: dict[str, float] = {}
    problems = []
    for key, value in values.items():
        if key not in SETTING_RANGES:
            problems.append(f"{key}: unknown, ignored")
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            problems.append(f"{key}: {value!r} is not a finite number; the default applies")
            continue
        bounds = SETTING_RANGES[key]
        clamped = float(min(max(value, bounds.low), bounds.high))
        if clamped != value:
            problems.append(f"{key}: {value!r} clamped to {clamped:g} ({bounds.describe()})")
        clean[key] = clamped
    problem = replace(NurserySettings(), **clean)._inconsistency()
    if problem is not None:
        problems.append(f"{problem}; the default ranges apply")
        clean = {key: value for key, value in clean.items() if key not in _RANGE_KEYS}
    return clean, problems


def settings_from_json(device_id: str, document: str | None) -> NurserySettings:
    """A device's nursery settings from their stored JSON text. The API validates them when
    written, but older versions did not bound them and a document may have been written by
    hand: a value out of range is clamped, anything unusable falls back to its default, and
    this is logged once per device and document. A fleet shares a few distinct documents
    (most are the defaults): each is parsed and repaired once."""
    settings, problems = _settings_of_text(document or "{}")
    if problems:
        _warn_repaired(device_id, document or "{}", problems)
    return settings


@lru_cache(maxsize=1024)
def _settings_of_text(document: str) -> tuple[NurserySettings, tuple[str, ...]]:
    try:
        values = json.loads(document)
    except ValueError as exc:
        return NurserySettings(), (f"not JSON ({exc}); defaults apply",)
    settings, problems = NurserySettings.from_stored(values)
    return settings, tuple(problems)


@lru_cache(maxsize=1024)
def _warn_repaired(device_id: str, document: str, problems: tuple[str, ...]) -> None:
    # Cached: said once per device and document, not for every batch.
    logger.warning("device %s has invalid nursery settings: %s", device_id, "; ".join(problems))
