"""Live readings: the newest new reading of each device in a committed batch, announced to the
API processes (PostgreSQL NOTIFY on ``nursery_readings``; the in-process hub with SQLite) so the
parents' screens update without polling. Only the newest per device per batch is announced: a
screen shows the current value, and a backlog replayed after an outage must not flood it."""

from __future__ import annotations

import json
from datetime import datetime

from cloud.storage.records import TelemetryRow

READING_CHANNEL = "nursery_readings"


def latest_per_device(readings: list[TelemetryRow]) -> list[TelemetryRow]:
    latest: dict[str, TelemetryRow] = {}
    for row in readings:
        current = latest.get(row.device_id)
        if current is None or (row.time, row.seq) > (current.time, current.seq):
            latest[row.device_id] = row
    return [latest[device_id] for device_id in sorted(latest)]


def reading_to_json(row: TelemetryRow) -> str:
    return json.dumps({
        "device_id": row.device_id, "seq": row.seq, "time": row.time.isoformat(),
        "received_at": row.received_at.isoformat(), "temperature": row.temperature,
        "humidity": row.humidity, "sound_dbfs_avg": row.sound_dbfs_avg,
        "sound_dbfs_max": row.sound_dbfs_max,
    })  # fmt: skip


def reading_from_json(document: str) -> TelemetryRow:
    values = json.loads(document)
    return TelemetryRow(
        device_id=values["device_id"],
        seq=values["seq"],
        time=datetime.fromisoformat(values["time"]),
        received_at=datetime.fromisoformat(values["received_at"]),
        temperature=values["temperature"],
        humidity=values["humidity"],
        sound_dbfs_avg=values["sound_dbfs_avg"],
        sound_dbfs_max=values["sound_dbfs_max"],
    )
