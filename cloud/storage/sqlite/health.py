"""The parents' views on SQLite, with the same semantics as postgres/health.py.

Times are stored as fixed-format UTC text, so text comparison is time comparison. Buckets are
computed on whole epoch seconds: SQLite's own date functions round to milliseconds, so the
fraction is cut off as text first, which makes flooring exact and equal to PostgreSQL's
``date_bin`` on the epoch.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from cloud.storage.health_plan import (
    CRY_EPISODE_KIND,
    UPLOAD_ALERT_KIND,
    bucket_seconds,
    upload_alert_details,
    upload_alert_message,
)
from cloud.storage.records import (
    HealthRecord,
    HealthStats,
    HistoryQuery,
    StoredAlert,
    TimeBucket,
    UploadRow,
)
from cloud.storage.sqlite.alarms import insert_alert
from cloud.storage.sqlite.database import Transaction, from_db_time, to_db_time

# Uploads of the user plus readings of the devices they are a member of, as one history (see
# postgres/health), a device's only from the start of its current claim period (``history_from``,
# cloud/storage/claim_plan.py; '' sorts before every time, so NULL bounds nothing).
_HISTORY = """
SELECT r.id, r.user_id, r.source, r.device_id, r.temperature, r.humidity, r.audio_url,
       r.cry_detected, r.sick_detected, r.time AS created_at, r.notes
FROM readings r WHERE r.user_id = :user_id AND r.source = 'upload'
UNION ALL
SELECT r.id, m.user_id, r.source, r.device_id, r.temperature, r.humidity, r.audio_url,
       r.cry_detected, r.sick_detected, r.time AS created_at, r.notes
FROM device_members m
JOIN devices d ON d.device_id = m.device_id
JOIN readings r ON r.device_id = m.device_id
WHERE m.user_id = :user_id AND r.source = 'device'
  AND r.time >= coalesce(d.history_from, '')
  AND r.received_at >= coalesce(d.history_from, '')
"""

# A literal kind, so SQLite can use the partial index events_cry_started.
_CRY_EPISODES = f"""
SELECT e.time
FROM device_members m
JOIN devices d ON d.device_id = m.device_id
JOIN events e ON e.device_id = m.device_id
WHERE m.user_id = :user_id AND e.kind = '{CRY_EPISODE_KIND}'
  AND e.time >= coalesce(d.history_from, '')
  AND e.received_at >= coalesce(d.history_from, '')
"""  # noqa: S608 - a constant

_LIST_SQL = f"""
SELECT * FROM ({_HISTORY})
WHERE (:cry IS NULL OR cry_detected = :cry)
  AND (:sick IS NULL OR sick_detected = :sick)
  AND (:start IS NULL OR created_at >= :start)
  AND (:end IS NULL OR created_at <= :end)
ORDER BY created_at DESC, id DESC
LIMIT :limit OFFSET :offset
"""  # noqa: S608 - fixed fragments

_RECORD_SQL = f"SELECT * FROM ({_HISTORY}) WHERE id = :record_id"  # noqa: S608

_STATS_SQL = f"""
SELECT count(*) AS total_records,
       coalesce(sum(cry_detected), 0) AS cry_records,
       coalesce(sum(sick_detected), 0) AS sick_records,
       avg(temperature) AS avg_temperature,
       avg(humidity) AS avg_humidity,
       (SELECT count(*) FROM ({_CRY_EPISODES})) AS cry_episodes
FROM ({_HISTORY})
"""  # noqa: S608 - fixed fragments

# Epoch seconds of the whole second (the fixed format's first 19 characters, read as UTC).
_EPOCH_S = "CAST(strftime('%s', substr(time, 1, 19)) AS INTEGER)"

_TIMESERIES_SQL = f"""
SELECT s - (((s % :bucket) + :bucket) % :bucket) AS bucket,
       avg(temperature) AS avg_temperature,
       avg(humidity) AS avg_humidity,
       sum(is_record) AS record_count,
       sum(cry) AS cry_count,
       sum(sick) AS sick_count
FROM (
    SELECT {_EPOCH_S} AS s, temperature, humidity, 1 AS is_record, cry_detected AS cry,
           sick_detected AS sick
    FROM (SELECT created_at AS time, temperature, humidity, cry_detected, sick_detected
          FROM ({_HISTORY}) WHERE created_at >= :start AND created_at < :end)
    UNION ALL
    SELECT {_EPOCH_S}, NULL, NULL, 0, 1, 0 FROM ({_CRY_EPISODES})
    WHERE time >= :start AND time < :end
)
GROUP BY bucket
ORDER BY bucket DESC
"""  # noqa: S608 - fixed fragments

_INSERT_UPLOAD = """
INSERT INTO readings (source, time, received_at, user_id, temperature, humidity, notes,
                      audio_url, cry_detected, sick_detected)
VALUES ('upload', ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id
"""


def _record(row: sqlite3.Row) -> HealthRecord:
    return HealthRecord(
        id=row["id"],
        user_id=row["user_id"],
        source=row["source"],
        device_id=row["device_id"],
        temperature=row["temperature"],
        humidity=row["humidity"],
        audio_url=row["audio_url"],
        cry_detected=bool(row["cry_detected"]),
        sick_detected=bool(row["sick_detected"]),
        created_at=from_db_time(row["created_at"]),
        notes=row["notes"],
    )


def _optional_time(value: datetime | None) -> str | None:
    return None if value is None else to_db_time(value)


def list_health_records(
    conn: sqlite3.Connection, user_id: int, query: HistoryQuery
) -> list[HealthRecord]:
    params = {
        "user_id": user_id,
        "cry": query.cry_detected,
        "sick": query.sick_detected,
        "start": _optional_time(query.start),
        "end": _optional_time(query.end),
        "limit": query.limit,
        "offset": query.offset,
    }
    return [_record(row) for row in conn.execute(_LIST_SQL, params)]


def get_health_record(
    conn: sqlite3.Connection, user_id: int, record_id: int
) -> HealthRecord | None:
    row = conn.execute(_RECORD_SQL, {"user_id": user_id, "record_id": record_id}).fetchone()
    return None if row is None else _record(row)


def add_upload(
    conn: sqlite3.Connection, upload: UploadRow
) -> tuple[HealthRecord, StoredAlert | None]:
    """Store the upload and its alert in one transaction; the caller announces the alert."""
    with Transaction(conn):
        row = conn.execute(_INSERT_UPLOAD, (
            to_db_time(upload.time), to_db_time(datetime.now(UTC)), upload.user_id,
            upload.temperature, upload.humidity, upload.notes, upload.audio_url,
            upload.cry_detected, upload.sick_detected,
        )).fetchone()  # fmt: skip
        record_id: int = row["id"]
        alert = None
        if upload.cry_detected:
            alert = insert_alert(
                conn, None, upload.user_id, UPLOAD_ALERT_KIND, upload.time,
                upload_alert_message(upload.sick_detected), upload.sick_detected,
                upload_alert_details(upload, record_id),
            )  # fmt: skip
        record = get_health_record(conn, upload.user_id, record_id)
    assert record is not None
    return record, alert


def health_stats(conn: sqlite3.Connection, user_id: int) -> HealthStats:
    # One read transaction: the totals and the latest record see the same data.
    with Transaction(conn, "DEFERRED"):
        totals = conn.execute(_STATS_SQL, {"user_id": user_id}).fetchone()
        latest = list_health_records(conn, user_id, HistoryQuery(limit=1))
    return HealthStats(
        total_records=totals["total_records"],
        cry_detected_count=totals["cry_records"] + totals["cry_episodes"],
        sick_detected_count=totals["sick_records"],
        avg_temperature=totals["avg_temperature"],
        avg_humidity=totals["avg_humidity"],
        latest_record=latest[0] if latest else None,
    )


def health_timeseries(
    conn: sqlite3.Connection, user_id: int, bucket: timedelta, start: datetime, end: datetime
) -> list[TimeBucket]:
    params = {
        "user_id": user_id,
        "bucket": bucket_seconds(bucket),
        "start": to_db_time(start),
        "end": to_db_time(end),
    }
    return [
        TimeBucket(
            time=datetime.fromtimestamp(row["bucket"], UTC),
            avg_temperature=row["avg_temperature"],
            avg_humidity=row["avg_humidity"],
            record_count=row["record_count"],
            cry_count=row["cry_count"],
            sick_count=row["sick_count"],
        )
        for row in conn.execute(_TIMESERIES_SQL, params)
    ]
