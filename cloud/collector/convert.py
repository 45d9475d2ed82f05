"""Turning contract payloads into storage rows."""

from __future__ import annotations

from datetime import datetime

from cloud.storage.records import TelemetryRow
from models.contract import Telemetry


def telemetry_row(payload: Telemetry, received_at: datetime) -> TelemetryRow:
    return TelemetryRow(
        device_id=payload.device_id,
        seq=payload.seq,
        time=payload.ts,
        received_at=received_at,
        temperature=payload.temperature_c,
        humidity=payload.humidity_pct,
        sound_dbfs_avg=payload.sound_dbfs_avg,
        sound_dbfs_max=payload.sound_dbfs_max,
    )
