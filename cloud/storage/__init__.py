"""Storage for the cloud: one interface, chosen by ``DATABASE_URL``."""

from __future__ import annotations

from cloud.storage.interface import (
    AccessDeniedError,
    AmbiguousEpisodeError,
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


async def check_database(database_url: str) -> None:
    """Fail now, in one line, if ``database_url`` names a database that cannot be used: for a
    command (``nursery-cloud api``) that opens storage later, where the reason would be buried
    in the web server's start-up traceback."""
    if database_url.startswith(("postgresql://", "postgres://")):
        from cloud.storage.postgres.store import probe_database

        await probe_database(database_url)
    elif not database_url.startswith("sqlite:"):
        # The same message open_storage gives.
        await open_storage(database_url)


__all__ = [
    "AccessDeniedError",
    "AmbiguousEpisodeError",
    "ClaimCodeInUseError",
    "DuplicateDeviceError",
    "DuplicateEmailError",
    "NotFoundError",
    "PermanentStorageError",
    "Storage",
    "StorageError",
    "check_database",
    "open_storage",
]
