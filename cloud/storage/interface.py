"""The storage interface every backend implements; callers depend on this, never on a driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Protocol

from cloud.storage.records import (
    DeadLetter,
    DeviceState,
    HealthRecord,
    HealthStats,
    HistoryQuery,
    IngestBatch,
    IngestResult,
    StoredAlert,
    TimeBucket,
    UploadRow,
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

    async def ping(self) -> bool:
        """True when the database answers a trivial query now (readiness probes)."""
        ...

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

    async def get_health_record(self, user_id: int, record_id: int) -> HealthRecord | None:
        """One record of the user's history, as ``list_health_records`` shows it; None both when
        it does not exist and when it is not the user's (their upload or their device's)."""
        ...

    async def add_upload(self, upload: UploadRow) -> tuple[HealthRecord, StoredAlert | None]:
        """Store an app upload and, if it caught a cry, its ``CRY_DETECTED`` alert, in one
        transaction; the alert (``user_id`` set, no device) is announced to ``listen_alerts``
        subscribers after the commit, as collector alerts are. Returns the record as the history
        shows it and the alert, if any."""
        ...

    async def health_stats(self, user_id: int) -> HealthStats:
        """Totals over the user's whole history (their uploads + their devices' readings):

        - ``total_records``: uploads + device readings (cry events are not records);
        - ``cry_detected_count``: records with ``cry_detected`` (uploads; device readings never
          set it) + the user's devices' cry episodes (events of kind ``cry_started``);
        - ``sick_detected_count``: records with ``sick_detected``;
        - ``avg_temperature`` / ``avg_humidity``: over the records that have a value, None when
          none has;
        - ``latest_record``: the newest record, as ``list_health_records`` orders them.
        """
        ...

    async def health_timeseries(
        self, user_id: int, bucket: timedelta, start: datetime, end: datetime
    ) -> list[TimeBucket]:
        """The user's history in buckets of width ``bucket``, newest first.

        Buckets are aligned to the Unix epoch (1970-01-01T00:00Z), so a day bucket runs from
        midnight UTC; ``bucket`` must be a positive whole number of seconds (ValueError
        otherwise). Only what happened in ``[start, end)`` counts, and only buckets with a
        record or a cry episode are returned. Per bucket, as in ``health_stats``: averages and
        ``record_count`` over uploads + device readings, ``cry_count`` = records with
        ``cry_detected`` + ``cry_started`` events, ``sick_count`` = records with
        ``sick_detected``.
        """
        ...
