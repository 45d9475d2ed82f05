"""Storage for the cloud: one interface, chosen by ``DATABASE_URL``."""

from __future__ import annotations

from cloud.storage.interface import (
    AccessDeniedError,
    ClaimCodeInUseError,
    DuplicateDeviceError,
    DuplicateEmailError,
    NotFoundError,
    PermanentStorageError,
    Storage,
    StorageError,
)


async def open_storage(database_url: str) -> Storage:
    """Open the backend named by ``database_url``: ``postgresql://...`` or ``sqlite:///path``."""
    if database_url.startswith(("postgresql://", "postgres://")):
        from cloud.storage.postgres.store import PostgresStorage

        return await PostgresStorage.open(database_url)
    if database_url.startswith("sqlite:"):
        from cloud.storage.sqlite.store import SqliteStorage

        return await SqliteStorage.open_url(database_url)
    scheme = database_url.split(":", 1)[0]
    raise StorageError(
        f"DATABASE_URL has an unsupported scheme {scheme!r}; use postgresql:// or sqlite:///"
    )


__all__ = [
    "AccessDeniedError",
    "ClaimCodeInUseError",
    "DuplicateDeviceError",
    "DuplicateEmailError",
    "NotFoundError",
    "PermanentStorageError",
    "Storage",
    "StorageError",
    "open_storage",
]
