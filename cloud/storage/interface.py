"""The storage interface every backend implements; callers depend on this, never on a driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cloud.storage.records import HealthRecord, HistoryQuery, TelemetryRow, User, UserCredentials


class StorageError(RuntimeError):
    """The database could not do what was asked (connection lost, constraint broken, ...)."""


class DuplicateEmailError(StorageError):
    """An account with this e-mail address exists already."""


class Storage(Protocol):
    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; returns the versions applied now (idempotent)."""
        ...

    async def close(self) -> None: ...

    async def create_user(self, email: str, password_hash: str, name: str | None) -> User: ...

    async def get_user(self, user_id: int) -> User | None: ...

    async def get_credentials(self, email: str) -> UserCredentials | None: ...

    async def register_device(self, device_id: str, owner_id: int | None) -> None: ...

    async def store_telemetry(self, rows: Sequence[TelemetryRow]) -> int:
        """Store readings, ignoring any ``(device_id, seq)`` already stored and unknown devices.

        Returns how many rows were new. Committed when this returns.
        """
        ...

    async def list_health_records(self, user_id: int, query: HistoryQuery) -> list[HealthRecord]:
        """The user's history, newest first: uploads and readings of the devices they own."""
        ...
