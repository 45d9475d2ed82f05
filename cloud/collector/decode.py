"""Turning one received MQTT message into a storage row, or into a dead letter.

``to_ingest_item`` is total: whatever bytes arrive on whatever topic, it returns a row or a
dead letter naming the reason, and never raises. An exception escaping here left the message
unacknowledged, so the broker redelivered it to every collector start, where it failed again
(a timestamp that overflowed on conversion to UTC did exactly that).
"""

from __future__ import annotations

from datetime import datetime

from cloud.storage.dead_letter_plan import capped
from cloud.storage.records import (
    DeadLetter,
    EventRow,
    HeardLabel,
    IgnoredEpisodeRow,
    ReportedConfigRow,
    StatusRow,
    TelemetryRow,
)
from models.contract import (
    ContractError,
    Envelope,
    Event,
    MessageKind,
    ReportedConfig,
    Status,
    Telemetry,
    TimeWindow,
    decode_message,
    topic_for,
)

StorableItem = TelemetryRow | EventRow | StatusRow | ReportedConfigRow
IngestItem = StorableItem | DeadLetter
_STATUS_BASE_FIELDS = {"schema_version", "device_id", "seq", "ts", "state", "firmware_version",
                       "model_version"}  # fmt: skip
# Dead letters of failures nobody foresaw start with this, so they can be told apart (and
# the collector logs them louder): each one is a bug to fix here or in the contract.
UNEXPECTED = "unexpected error while decoding"
DEFAULT_WINDOW = TimeWindow()
_KINDS: dict[type, MessageKind] = {
    TelemetryRow: MessageKind.TELEMETRY,
    EventRow: MessageKind.EVENT,
    StatusRow: MessageKind.STATUS,
    ReportedConfigRow: MessageKind.REPORTED_CONFIG,
}


def to_ingest_item(
    topic: str, raw: bytes, received_at: datetime, window: TimeWindow = DEFAULT_WINDOW
) -> IngestItem:
    """Validate against the wire contract and the time window at ``received_at`` (the
    server's clock); anything refused becomes a dead letter with the reason."""
    try:
        return _to_row(topic, raw, received_at, window)
    except ContractError as exc:
        return capped(DeadLetter(topic, raw, str(exc), received_at))
    except Exception as exc:  # the one place that must turn anything into a row
        reason = f"{UNEXPECTED}: {type(exc).__name__}: {exc}"
        return capped(DeadLetter(topic, raw, reason, received_at))


def unstorable(item: StorableItem, error: Exception, attempts: int) -> DeadLetter:
    """The dead letter for a decoded message that could not be stored ``attempts`` times (the
    database refused its rows, or storing it failed unexpectedly): as received, with why."""
    reason = f"{UNEXPECTED}: not storable ({attempts} attempts): {type(error).__name__}: {error}"
    topic = topic_for(item.device_id, _KINDS[type(item)])
    return capped(DeadLetter(topic, item.raw, reason, item.received_at))


def _to_row(topic: str, raw: bytes, received_at: datetime, window: TimeWindow) -> IngestItem:
    payload = decode_message(topic, raw)
    time = _device_time(payload, received_at, window)
    if isinstance(payload, Telemetry):
        return TelemetryRow(
            device_id=payload.device_id,
            seq=payload.seq,
            time=time,
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
            time=time,
            received_at=received_at,
            kind=payload.kind,
            episode_id=payload.episode_id,
            confidence=payload.confidence,
            sound_dbfs=payload.sound_dbfs,
            duration_s=payload.duration_s,
            raw=raw,
            temperature=payload.temperature_c,
            humidity=payload.humidity_pct,
            end_reason=payload.end_reason,
            heard=tuple(HeardLabel(h.label, h.score) for h in payload.heard or ()),
            ignored=_ignored(payload),
        )
    if isinstance(payload, Status):
        details = payload.model_dump(mode="json", exclude=_STATUS_BASE_FIELDS, exclude_none=True)
        return StatusRow(
            device_id=payload.device_id,
            seq=payload.seq,
            time=time,
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
            time=time,
            received_at=received_at,
            revision=payload.revision,
            accepted=payload.accepted,
            settings=dict(payload.settings),
            error=payload.error,
            raw=raw,
        )
    raise ContractError(f"{type(payload).__name__} is not collected")


def _ignored(event: Event) -> IgnoredEpisodeRow | None:
    """Why the device did not alert on a cry start; only a ``cry_started`` can be ignored (a
    reason on any other kind means nothing and is dropped)."""
    if event.ignored is None or event.kind != "cry_started":
        return None
    reason = event.ignored
    return IgnoredEpisodeRow(reason.like_episode_id, reason.marked_at, reason.similarity)


def _device_time(payload: Envelope, received_at: datetime, window: TimeWindow) -> datetime:
    """The message's time, if the window allows it. A reading or an event outside it is
    refused: its time is what it says, and one dated 9999 outranked every later reading. A
    status or reported config only dates the message (the server orders them by receive
    time), and its content - a device reporting its own wrong clock among them - must still
    arrive, so its time outside the window becomes the receive time instead."""
    problem = window.problem(payload.ts, received_at)
    if problem is None:
        return payload.ts
    if isinstance(payload, Telemetry | Event):
        raise ContractError(problem)
    return received_at
