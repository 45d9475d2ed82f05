"""Plain records passed across the storage interface (no database types leak out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

RecordSource = Literal["device", "upload"]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserCredentials:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class TelemetryRow:
    """One device reading as the collector stores it."""

    device_id: str
    seq: int
    time: datetime
    received_at: datetime
    temperature: float | None
    humidity: float | None
    sound_dbfs_avg: float | None
    sound_dbfs_max: float | None


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """A row of the parents' history: a device reading or an app upload."""

    id: int
    user_id: int
    source: RecordSource
    device_id: str | None
    temperature: float | None
    humidity: float | None
    audio_url: str | None
    cry_detected: bool
    sick_detected: bool
    created_at: datetime
    notes: str | None


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    limit: int = 100
    offset: int = 0
    cry_detected: bool | None = None
    sick_detected: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
