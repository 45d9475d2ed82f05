"""Turning one received MQTT message into a storage row, or into a dead letter."""

from __future__ import annotations

from datetime import datetime

from cloud.storage.records import (
    DeadLetter,
    EventRow,
    ReportedConfigRow,
    StatusRow,
    TelemetryRow,
)
from models.contract import (
    ContractError,
    Event,
    ReportedConfig,
    Status,
    Telemetry,
    decode_message,
)

IngestItem = TelemetryRow | EventRow | StatusRow | ReportedConfigRow | DeadLetter
_STATUS_BASE_FIELDS = {"schema_version", "device_id", "seq", "ts", "state", "firmware_version",
                       "model_version"}  # fmt: skip


def to_ingest_item(topic: str, raw: bytes, received_at: datetime) -> IngestItem:
    """Validate against the wire contract; anything invalid is kept verbatim as a dead letter."""
    try:
        payload = decode_message(topic, raw)
    except ContractError as exc:
        return DeadLetter(topic, raw, str(exc), received_at)
    if isinstance(payload, Telemetry):
        return TelemetryRow(
            device_id=payload.device_id,
            seq=payload.seq,
            time=payload.ts,
            received_at=received_at,
            temperature=payload.temperature_c,
            humidity=payload.humidity_pct,
            sound_dbfs_avg=payload.sound_dbfs_avg,
            sound_dbfs_max=payload.sound_dbfs_max,
            raw=raw,
        )
    if isinstance(payload, Event):
        return EventRow(
            device_id=payload.device_id,
            seq=payload.seq,
            time=payload.ts,
            received_at=received_at,
            kind=payload.kind,
            episode_id=payload.episode_id,
            confidence=payload.confidence,
            sound_dbfs=payload.sound_dbfs,
            duration_s=payload.duration_s,
            raw=raw,
            temperature=payload.temperature_c,
            humidity=payload.humidity_pct,
        )
    if isinstance(payload, Status):
        details = payload.model_dump(mode="json", exclude=_STATUS_BASE_FIELDS, exclude_none=True)
        return StatusRow(
            device_id=payload.device_id,
            seq=payload.seq,
            time=payload.ts,
            received_at=received_at,
            online=payload.state == "online",
            firmware_version=payload.firmware_version,
            model_version=payload.model_version,
            details=details,
            raw=raw,
        )
    if isinstance(payload, ReportedConfig):
        return ReportedConfigRow(
            device_id=payload.device_id,
            seq=payload.seq,
            time=payload.ts,
            received_at=received_at,
            revision=payload.revision,
            accepted=payload.accepted,
            settings=dict(payload.settings),
            error=payload.error,
            raw=raw,
        )
    return DeadLetter(topic, raw, f"{type(payload).__name__} is not collected", received_at)
