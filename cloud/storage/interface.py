"""The storage interface every backend implements; callers depend on this, never on a driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from cloud.storage.records import (
    DeadLetter,
    DeviceState,
    HealthRecord,
    HistoryQuery,
    IngestBatch,
    IngestResult,
    StoredAlert,
    User,
    UserCredentials,
)


class StorageError(RuntimeError):
    """The database could not do what was asked (connection lost, constraint broken, ...)."""


class DuplicateEmailError(StorageError):
    """An account with this e-mail address exists already."""


class Storage(Protocol):
    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; returns the versions applied now (idempotent)."""
        ...

    async def close(self) -> None: ...

    # --- accounts and devices ---
    async def create_user(self, email: str, password_hash: str, name: str | None) -> User: ...

    async def get_user(self, user_id: int) -> User | None: ...

    async def get_credentials(self, email: str) -> UserCredentials | None: ...

    async def register_device(self, device_id: str, owner_id: int | None) -> None: ...

    async def set_device_settings(self, device_id: str, settings: dict[str, float]) -> None: ...

    async def get_device_state(self, device_id: str) -> DeviceState | None: ...

    # --- ingest (the collector) ---
    async def ingest(self, batch: IngestBatch) -> IngestResult:
        """Store a batch in one transaction and apply the alert rules to what was new.

        Rows whose ``(device_id, seq)`` is stored already are ignored; rows of unknown devices
        become dead letters. Committed when this returns; the returned alerts are announced to
        ``listen_alerts`` subscribers only after the commit.
        """
        ...

    async def check_offline(self, now: datetime) -> list[StoredAlert]:
        """Raise DEVICE_OFFLINE alerts for devices offline past their grace period."""
        ...

    def listen_alerts(self) -> AsyncIterator[StoredAlert]:
        """Every alert committed from now on, by any process writing to this database."""
        ...

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def list_alerts(self, device_id: str, limit: int = 100) -> list[StoredAlert]: ...

    # --- the parents' views ---
    async def list_health_records(self, user_id: int, query: HistoryQuery) -> list[HealthRecord]:
        """The user's history, newest first: uploads and readings of the devices they own."""
        ...
