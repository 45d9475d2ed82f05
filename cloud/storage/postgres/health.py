"""The parents' views on PostgreSQL: history, one record, uploads, stats and the time series.

A user's history is their uploads plus the readings of the devices they are a member of
(owner or caregiver), written as a UNION ALL of two index-backed scans (readings_user_time for
uploads; device_members_user then readings_device_time for device readings) instead of an OR,
which PostgreSQL cannot serve from either index alone. Filters on the union are pushed down into
both branches. A device's data counts only from the start of its current claim period
(``history_from``, cloud/storage/claim_plan.py): as a lower bound on ``time`` it narrows the
index scan instead of filtering every row of the device.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from cloud.storage.health_plan import (
    CRY_EPISODE_KIND,
    UPLOAD_ALERT_KIND,
    upload_alert_details,
    upload_alert_message,
)
from cloud.storage.postgres.alarms import insert_alert
from cloud.storage.records import (
    HealthRecord,
    HealthStats,
    HistoryQuery,
    StoredAlert,
    UploadRow,
)

_RECORD_COLUMNS = (
    "id, user_id, source, device_id, temperature, humidity, audio_url, cry_detected,"
    " sick_detected, time AS created_at, notes"
)

HISTORY_SQL = """
SELECT r.id, r.user_id, r.source, r.device_id, r.temperature, r.humidity, r.audio_url,
       r.cry_detected, r.sick_detected, r.time AS created_at, r.notes
FROM readings r
WHERE r.user_id = %(user_id)s AND r.source = 'upload'
UNION ALL
SELECT r.id, m.user_id, r.source, r.device_id, r.temperature, r.humidity, r.audio_url,
       r.cry_detected, r.sick_detected, r.time AS created_at, r.notes
FROM device_members m
JOIN devices d ON d.device_id = m.device_id
JOIN readings r ON r.device_id = m.device_id
WHERE m.user_id = %(user_id)s AND r.source = 'device'
  AND r.time >= coalesce(d.history_from, '-infinity')
  AND r.received_at >= coalesce(d.history_from, '-infinity')
"""

# The member devices' cry episodes (served by events_cry_started, migration 0004).
_CRY_EPISODES = f"""
SELECT e.time
FROM device_members m
JOIN devices d ON d.device_id = m.device_id
JOIN events e ON e.device_id = m.device_id
WHERE m.user_id = %(user_id)s AND e.kind = '{CRY_EPISODE_KIND}'
  AND e.time >= coalesce(d.history_from, '-infinity')
  AND e.received_at >= coalesce(d.history_from, '-infinity')
"""  # noqa: S608 - a constant

# The filters of a history page, applied inside each branch so that every branch can stop early.
_PAGE_FILTERS = """
  AND (%(cry)s::boolean IS NULL OR r.cry_detected = %(cry)s)
  AND (%(sick)s::boolean IS NULL OR r.sick_detected = %(sick)s)
  AND (%(start)s::timestamptz IS NULL OR r.time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR r.time <= %(end)s)
"""

# A page of history, newest first. An ORDER BY ... LIMIT over the plain union cannot use the
# time indexes through the join, and read every row of a year-old device (1.1 s for 3 M rows,
# tests/benchmarks/bench_api.py); so each source - the user's uploads, and each member device
# through a LATERAL subquery - contributes only its own newest (limit + offset) rows, walked in
# index order (readings_user_time, readings_device_time), and the page is cut from their merge.
_LIST_SQL = f"""
SELECT * FROM (
    (SELECT r.id, r.user_id, r.source, r.device_id, r.temperature, r.humidity, r.audio_url,
            r.cry_detected, r.sick_detected, r.time AS created_at, r.notes
     FROM readings r
     WHERE r.user_id = %(user_id)s AND r.source = 'upload' {_PAGE_FILTERS}
     ORDER BY r.time DESC, r.id DESC
     LIMIT %(window)s)
    UNION ALL
    (SELECT r.id, m.user_id, r.source, r.device_id, r.temperature, r.humidity, r.audio_url,
            r.cry_detected, r.sick_detected, r.created_at, r.notes
     FROM device_members m
     JOIN devices d ON d.device_id = m.device_id
     CROSS JOIN LATERAL (
         SELECT r.id, r.source, r.device_id, r.temperature, r.humidity, r.audio_url,
                r.cry_detected, r.sick_detected, r.time AS created_at, r.notes
         FROM readings r
         WHERE r.device_id = m.device_id AND r.source = 'device'
           AND r.time >= coalesce(d.history_from, '-infinity')
           AND r.received_at >= coalesce(d.history_from, '-infinity') {_PAGE_FILTERS}
         ORDER BY r.time DESC, r.id DESC
         LIMIT %(window)s
     ) r
     WHERE m.user_id = %(user_id)s)
) history
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""  # noqa: S608 - fixed fragments

_RECORD_SQL = f"SELECT * FROM ({HISTORY_SQL}) history WHERE id = %(record_id)s"  # noqa: S608

_STATS_SQL = f"""
SELECT count(*) AS total_records,
       count(*) FILTER (WHERE cry_detected) AS cry_records,
       count(*) FILTER (WHERE sick_detected) AS sick_records,
       avg(temperature) AS avg_temperature,
       avg(humidity) AS avg_humidity,
       (SELECT count(*) FROM ({_CRY_EPISODES}) cries) AS cry_episodes
FROM ({HISTORY_SQL}) history
"""  # noqa: S608 - fixed fragments

_INSERT_UPLOAD = f"""
INSERT INTO readings (source, time, user_id, temperature, humidity, notes, audio_url,
                      cry_detected, sick_detected)
VALUES ('upload', %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING {_RECORD_COLUMNS}
"""  # noqa: S608 - a constant


async def list_health_records(
    conn: AsyncConnection[Any], user_id: int, query: HistoryQuery
) -> list[HealthRecord]:
    params: dict[str, int | bool | datetime | None] = {
        "user_id": user_id,
        "cry": query.cry_detected,
        "sick": query.sick_detected,
        "start": query.start,
        "end": query.end,
        "limit": query.limit,
        "offset": query.offset,
        "window": min(query.limit + query.offset, 2**63 - 1),  # BIGINT
    }
    cursor = await conn.execute(_LIST_SQL, params)
    return [HealthRecord(**row) for row in await cursor.fetchall()]


async def get_health_record(
    conn: AsyncConnection[Any], user_id: int, record_id: int
) -> HealthRecord | None:
    cursor = await conn.execute(_RECORD_SQL, {"user_id": user_id, "record_id": record_id})
    row = await cursor.fetchone()
    return None if row is None else HealthRecord(**row)


async def add_upload(
    conn: AsyncConnection[Any], upload: UploadRow
) -> tuple[HealthRecord, StoredAlert | None]:
    async with conn.transaction():
        cursor = await conn.execute(_INSERT_UPLOAD, (
            upload.time, upload.user_id, upload.temperature, upload.humidity, upload.notes,
            upload.audio_url, upload.cry_detected, upload.sick_detected,
        ))  # fmt: skip
        row = await cursor.fetchone()
        assert row is not None
        record = HealthRecord(**row)
        alert = None
        if upload.cry_detected:
            alert = await insert_alert(
                conn, None, upload.user_id, UPLOAD_ALERT_KIND, upload.time,
                upload_alert_message(upload.sick_detected), upload.sick_detected,
                upload_alert_details(upload, record.id),
            )  # fmt: skip
    return record, alert


async def health_stats(conn: AsyncConnection[Any], user_id: int) -> HealthStats:
    # One snapshot for the totals and the latest record.
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor = await conn.execute(_STATS_SQL, {"user_id": user_id})
        totals = await cursor.fetchone()
        latest = await list_health_records(conn, user_id, HistoryQuery(limit=1))
    assert totals is not None
    return HealthStats(
        total_records=totals["total_records"],
        cry_detected_count=totals["cry_records"] + totals["cry_episodes"],
        sick_detected_count=totals["sick_records"],
        avg_temperature=totals["avg_temperature"],
        avg_humidity=totals["avg_humidity"],
        latest_record=latest[0] if latest else None,
    )
