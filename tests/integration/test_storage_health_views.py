"""The parents' views, run against every backend: uploads and their alerts, one record, stats and
the time series, each private to the user (their uploads and their own devices' data).

Values are chosen so averages are exact in binary floating point whatever the summation order,
so both backends must agree to the last bit.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cloud.storage import Storage, StorageError
from cloud.storage.records import (
    EventRow,
    HealthStats,
    HistoryQuery,
    IngestBatch,
    TelemetryRow,
    TimeBucket,
    UploadRow,
)

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_user(storage: Storage) -> int:
    return (await storage.create_user(f"{unique('parent')}@example.com", "hash", None)).id


async def new_device(storage: Storage, owner_id: int) -> str:
    device_id = unique("dev")
    await storage.register_device(device_id, owner_id)
    return device_id


def upload(
    user_id: int,
    time: datetime,
    temperature: float = 37.0,
    humidity: float = 50.0,
    *,
    cry: bool = False,
    sick: bool = False,
    notes: str | None = None,
    audio_url: str | None = None,
    confidence: float | None = None,
) -> UploadRow:
    return UploadRow(user_id, time, temperature, humidity, notes, audio_url, cry, sick, confidence)


def reading(
    device_id: str, seq: int, time: datetime, temperature: float | None, humidity: float | None
) -> TelemetryRow:
    return TelemetryRow(device_id, seq, time, time, temperature, humidity, -60.0, -40.0)


def event(device_id: str, seq: int, time: datetime, kind: str = "cry_started") -> EventRow:
    return EventRow(device_id, seq, time, time, kind, seq, 0.9, -30.0, None)


# --- uploads and their alerts ---------------------------------------------------------------


async def test_upload_round_trip_and_alert_only_when_crying(storage: Storage) -> None:
    user_id = await new_user(storage)
    calm, calm_alert = await storage.add_upload(
        upload(user_id, T0, 37.5, 65.0, notes="restless", audio_url="uploads/a.wav")
    )
    assert calm_alert is None
    assert (calm.user_id, calm.source, calm.device_id) == (user_id, "upload", None)
    assert (calm.temperature, calm.humidity, calm.notes, calm.audio_url) == (
        37.5, 65.0, "restless", "uploads/a.wav",
    )  # fmt: skip
    assert (calm.cry_detected, calm.sick_detected, calm.created_at) == (False, False, T0)

    crying, cry_alert = await storage.add_upload(
        upload(user_id, T0 + HOUR, 37.25, 60.5, cry=True, confidence=0.875)
    )
    assert (crying.cry_detected, crying.sick_detected) == (True, False)
    assert cry_alert is not None
    assert (cry_alert.kind, cry_alert.user_id, cry_alert.device_id) == (
        "CRY_DETECTED", user_id, None,
    )  # fmt: skip
    assert (cry_alert.message, cry_alert.sick_detected, cry_alert.time) == (
        "Baby is crying", False, T0 + HOUR,
    )  # fmt: skip
    assert cry_alert.details == {
        "temperature": 37.25, "humidity": 60.5, "record_id": crying.id, "confidence": 0.875,
    }  # fmt: skip

    sick, sick_alert = await storage.add_upload(
        upload(user_id, T0 + 2 * HOUR, 38.5, 55.0, cry=True, sick=True, confidence=0.5)
    )
    assert sick.sick_detected is True
    assert sick_alert is not None
    assert (sick_alert.message, sick_alert.sick_detected) == (
        "Baby is crying and may be sick",
        True,
    )
    assert sick_alert.details["record_id"] == sick.id
    assert sick_alert.id != cry_alert.id

    # The records are returned exactly as the history shows them.
    assert await storage.list_health_records(user_id, HistoryQuery()) == [sick, crying, calm]


async def test_upload_of_an_unknown_user_is_refused(storage: Storage) -> None:
    with pytest.raises(StorageError):
        await storage.add_upload(upload(987_654_321, T0, cry=True))


async def test_upload_alert_reaches_listen_alerts(storage: Storage) -> None:
    user_id = await new_user(storage)
    feed = storage.listen_alerts()
    first = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.3)  # the listener is subscribed before the alert is committed
    _calm, none = await storage.add_upload(upload(user_id, T0))  # announces nothing
    _record, alert = await storage.add_upload(
        upload(user_id, T0 + HOUR, 38.5, 70.0, cry=True, sick=True, confidence=0.75)
    )
    announced = await asyncio.wait_for(first, timeout=5)
    assert none is None
    assert announced == alert
    assert (announced.user_id, announced.device_id, announced.sick_detected) == (
        user_id, None, True,
    )  # fmt: skip
    await feed.aclose()  # type: ignore[attr-defined]


async def test_device_alerts_still_name_the_device_and_no_user(storage: Storage) -> None:
    owner_id = await new_user(storage)
    device_id = await new_device(storage, owner_id)
    result = await storage.ingest(IngestBatch(events=[event(device_id, 1, T0)]))
    assert [(a.kind, a.device_id, a.user_id) for a in result.alerts] == [
        ("CRY_DETECTED", device_id, None)
    ]
    assert await storage.list_alerts(device_id) == result.alerts


# --- one record -----------------------------------------------------------------------------


async def test_get_health_record_only_for_its_owner(storage: Storage) -> None:
    owner_id, stranger_id = await new_user(storage), await new_user(storage)
    device_id = await new_device(storage, owner_id)
    await storage.ingest(IngestBatch(readings=[reading(device_id, 0, T0, 20.5, 45.0)]))
    own_upload, _ = await storage.add_upload(upload(owner_id, T0 + HOUR, 37.5, 60.0))
    strangers_upload, _ = await storage.add_upload(upload(stranger_id, T0 + HOUR))

    history = await storage.list_health_records(owner_id, HistoryQuery())
    assert [record.source for record in history] == ["upload", "device"]
    device_record = history[1]
    assert (device_record.user_id, device_record.device_id) == (owner_id, device_id)
    assert (device_record.temperature, device_record.humidity) == (20.5, 45.0)

    assert await storage.get_health_record(owner_id, device_record.id) == device_record
    assert await storage.get_health_record(owner_id, own_upload.id) == own_upload
    assert await storage.get_health_record(stranger_id, strangers_upload.id) == strangers_upload
    # not yours: another user's device reading or upload
    assert await storage.get_health_record(stranger_id, device_record.id) is None
    assert await storage.get_health_record(stranger_id, own_upload.id) is None
    assert await storage.get_health_record(owner_id, strangers_upload.id) is None
    # missing
    missing = max(own_upload.id, strangers_upload.id, device_record.id) + 1_000_000
    assert await storage.get_health_record(owner_id, missing) is None
    # a device given to someone else leaves its readings behind, shown to neither: they belong
    # to the period in which they were recorded (cloud/storage/claim_plan.py)
    await storage.register_device(device_id, stranger_id)
    assert await storage.get_health_record(owner_id, device_record.id) is None
    assert await storage.get_health_record(stranger_id, device_record.id) is None


# --- stats ----------------------------------------------------------------------------------


async def add_strangers_data(storage: Storage) -> int:
    """Another family with uploads, a device, readings and cries at the same times: must never
    show up in anyone else's views."""
    stranger_id = await new_user(storage)
    device_id = await new_device(storage, stranger_id)
    for minutes in (0, 10, 30, 90):
        t = T0 + timedelta(minutes=minutes)
        await storage.add_upload(upload(stranger_id, t, 99.0, 99.0, cry=True, sick=True))
    await storage.ingest(
        IngestBatch(
            readings=[
                reading(device_id, s, T0 + timedelta(seconds=s), 99.0, 99.0) for s in range(5)
            ],
            events=[event(device_id, 10 + s, T0 + timedelta(minutes=30 + s)) for s in range(3)],
        )
    )
    return stranger_id


async def test_health_stats_over_uploads_readings_and_cry_episodes(storage: Storage) -> None:
    owner_id = await new_user(storage)
    assert await storage.health_stats(owner_id) == HealthStats(0, 0, 0, None, None, None)
    device_id = await new_device(storage, owner_id)
    stranger_id = await add_strangers_data(storage)
    await storage.add_upload(upload(owner_id, T0, 37.0, 60.0, cry=True))
    await storage.add_upload(
        upload(owner_id, T0 + timedelta(minutes=30), 38.5, 70.0, cry=True, sick=True)
    )
    newest, _ = await storage.add_upload(upload(owner_id, T0 + timedelta(minutes=90), 36.5, 50.0))
    await storage.ingest(
        IngestBatch(
            readings=[
                reading(device_id, 0, T0, 20.0, 40.0),
                reading(device_id, 1, T0 + timedelta(seconds=10), 28.0, 44.0),
                reading(device_id, 2, T0 + timedelta(seconds=20), None, 48.0),  # sensor miss
            ],
            events=[
                event(device_id, 3, T0 + timedelta(seconds=30)),
                event(device_id, 4, T0 + timedelta(seconds=40), "cry_ended"),
                event(device_id, 5, T0 + timedelta(seconds=50)),
            ],
        )
    )
    stats = await storage.health_stats(owner_id)
    assert stats == HealthStats(
        total_records=6,  # 3 uploads + 3 device readings
        cry_detected_count=4,  # 2 crying uploads + 2 cry episodes
        sick_detected_count=1,
        avg_temperature=32.0,  # (37 + 38.5 + 36.5 + 20 + 28) / 5: the miss has no temperature
        avg_humidity=52.0,  # (60 + 70 + 50 + 40 + 44 + 48) / 6
        latest_record=newest,
    )
    assert stats.latest_record == (await storage.list_health_records(owner_id, HistoryQuery()))[0]
    stranger = await storage.health_stats(stranger_id)
    assert (stranger.total_records, stranger.cry_detected_count, stranger.sick_detected_count) == (
        9, 7, 4,
    )  # fmt: skip
    assert (stranger.avg_temperature, stranger.avg_humidity) == (99.0, 99.0)


async def test_health_stats_without_values_has_no_averages(storage: Storage) -> None:
    owner_id = await new_user(storage)
    device_id = await new_device(storage, owner_id)
    await storage.ingest(
        IngestBatch(
            readings=[reading(device_id, 0, T0, None, None)], events=[event(device_id, 1, T0)]
        )
    )
    stats = await storage.health_stats(owner_id)
    assert (stats.total_records, stats.cry_detected_count, stats.sick_detected_count) == (1, 1, 0)
    assert (stats.avg_temperature, stats.avg_humidity) == (None, None)
    assert stats.latest_record is not None
    assert stats.latest_record.device_id == device_id


# --- time series ----------------------------------------------------------------------------

A_TIME = T0 + timedelta(minutes=10)  # 02:10
B_TIME = T0 + HOUR - timedelta(microseconds=1)  # 02:59:59.999999, still the 02:00 hour
C_TIME = T0 + HOUR  # 03:00:00 exactly, the next hour
NEXT_DAY = datetime(2026, 11, 24, 1, 15, tzinfo=UTC)


async def timeseries_fixture(storage: Storage) -> int:
    owner_id = await new_user(storage)
    device_id = await new_device(storage, owner_id)
    await storage.add_upload(upload(owner_id, A_TIME, 37.0, 60.0, cry=True))
    await storage.add_upload(upload(owner_id, B_TIME, 38.0, 62.0, cry=True, sick=True))
    await storage.add_upload(upload(owner_id, C_TIME, 38.0, 56.0))
    await storage.add_upload(upload(owner_id, NEXT_DAY, 37.0, 55.0))
    await storage.ingest(
        IngestBatch(
            readings=[
                reading(device_id, 0, T0, 20.0, 40.0),
                reading(device_id, 1, T0 + timedelta(seconds=10), 22.0, 42.0),
            ],
            events=[
                event(device_id, 2, T0 + timedelta(minutes=30)),
                event(device_id, 3, T0 + timedelta(minutes=31), "cry_ended"),
                # 04:00 has nothing; 05:00 has only a cry episode
                event(device_id, 4, T0 + timedelta(hours=3, minutes=30)),
            ],
        )
    )
    return owner_id


def at(hour: int, day: int = 23, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def test_hourly_buckets_newest_first_without_empty_ones(storage: Storage) -> None:
    owner_id = await timeseries_fixture(storage)
    stranger_id = await add_strangers_data(storage)
    buckets = await storage.health_timeseries(owner_id, HOUR, T0, T0 + DAY)
    assert buckets == [
        TimeBucket(at(1, day=24), 37.0, 55.0, record_count=1, cry_count=0, sick_count=0),
        TimeBucket(at(5), None, None, record_count=0, cry_count=1, sick_count=0),
        TimeBucket(at(3), 38.0, 56.0, record_count=1, cry_count=0, sick_count=0),
        # A, B and two device readings; 2 crying uploads + 1 episode (the cry_ended is no cry)
        TimeBucket(at(2), 29.25, 51.0, record_count=4, cry_count=3, sick_count=1),
    ]
    assert await storage.health_timeseries(stranger_id, HOUR, T0, T0 + DAY) == [
        TimeBucket(at(3), 99.0, 99.0, record_count=1, cry_count=1, sick_count=1),
        TimeBucket(at(2), 99.0, 99.0, record_count=8, cry_count=6, sick_count=3),
    ]


async def test_daily_and_unaligned_buckets_are_aligned_to_the_epoch(storage: Storage) -> None:
    owner_id = await timeseries_fixture(storage)
    await add_strangers_data(storage)
    days = await storage.health_timeseries(owner_id, DAY, T0 - DAY, T0 + 2 * DAY)
    assert days == [
        TimeBucket(at(0, day=24), 37.0, 55.0, record_count=1, cry_count=0, sick_count=0),
        # A, B, C and two readings: (37+38+38+20+22)/5, (60+62+56+40+42)/5
        TimeBucket(at(0), 31.0, 52.0, record_count=5, cry_count=4, sick_count=1),
    ]
    # 5-hour buckets count from the epoch, not from `start` or midnight: 11-23 00:00 is a
    # boundary (day 20780 since the epoch), so the next day's buckets start at 01:00.
    five = await storage.health_timeseries(owner_id, 5 * HOUR, T0, T0 + DAY)
    assert five == [
        TimeBucket(at(1, day=24), 37.0, 55.0, record_count=1, cry_count=0, sick_count=0),
        TimeBucket(at(5), None, None, record_count=0, cry_count=1, sick_count=0),
        TimeBucket(at(0), 31.0, 52.0, record_count=5, cry_count=3, sick_count=1),
    ]


async def test_timeseries_start_is_inclusive_and_end_exclusive(storage: Storage) -> None:
    owner_id = await timeseries_fixture(storage)
    # From A (included) to C (excluded): the readings at 02:00:00/02:00:10 are before the start.
    window = await storage.health_timeseries(owner_id, HOUR, A_TIME, C_TIME)
    assert window == [TimeBucket(at(2), 37.5, 61.0, record_count=2, cry_count=3, sick_count=1)]
    # Up to B, excluded: A and the 02:30 episode remain.
    before_b = await storage.health_timeseries(owner_id, HOUR, A_TIME, B_TIME)
    assert before_b == [TimeBucket(at(2), 37.0, 60.0, record_count=1, cry_count=2, sick_count=0)]
    assert await storage.health_timeseries(owner_id, HOUR, at(4), at(5)) == []
    assert await storage.health_timeseries(owner_id, HOUR, C_TIME, A_TIME) == []


async def test_timeseries_of_a_user_without_data_is_empty(storage: Storage) -> None:
    await timeseries_fixture(storage)
    nobody = await new_user(storage)
    assert await storage.health_timeseries(nobody, HOUR, T0 - DAY, T0 + DAY) == []


@pytest.mark.parametrize("bucket", [timedelta(0), -HOUR, timedelta(seconds=1.5)])
async def test_timeseries_refuses_bad_bucket_widths(storage: Storage, bucket: timedelta) -> None:
    owner_id = await new_user(storage)
    with pytest.raises(ValueError, match="bucket"):
        await storage.health_timeseries(owner_id, bucket, T0, T0 + DAY)
