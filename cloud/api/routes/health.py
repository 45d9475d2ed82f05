"""``/health``: uploads from the app, and the history, statistics and time series that combine
them with the readings of the caller's devices."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, UploadFile, status

from cloud.api.deps import AUTH_RESPONSES, CurrentUser, ServicesDep
from cloud.api.device_schemas import GapRead
from cloud.api.intervals import IntervalError, parse_interval
from cloud.api.schemas import (
    NO_NUL_PATTERN,
    HealthRecordRead,
    HealthRouterStatus,
    HealthStatsRead,
    QueryTime,
    TimeSeriesRead,
)
from cloud.rules import NurserySettings, is_sick
from cloud.storage.records import Gap, HealthRecord, HealthStats, HistoryQuery, UploadRow
from cloud.uploads import UploadError, decode_audio
from models.cry import CryDetectorError

router = APIRouter(prefix="/health", tags=["health"])

MAX_HISTORY_LIMIT = 1000
# Body temperature from the app's thermometer: below 25 °C or above 45 °C is a typo or a
# broken sensor, not a baby.
BODY_TEMPERATURE_RANGE_C = (25.0, 45.0)
HUMIDITY_RANGE_PCT = (0.0, 100.0)
MAX_NOTES_LENGTH = 2000
# Ten minutes of crying is plenty to judge; it also bounds the memory one upload can take.
MAX_AUDIO_SECONDS = 300.0

MAX_BUCKETS = 10_000
DEFAULT_SERIES_SPAN = timedelta(days=7)
READ_CHUNK_BYTES = 64 * 1024
MAX_RECORD_ID = 2**63 - 1  # BIGINT
MAX_OFFSET = 2**63 - 1  # OFFSET is a BIGINT in PostgreSQL, a 64-bit integer in SQLite
NOT_FOUND = HTTPException(status.HTTP_404_NOT_FOUND, "Health record not found")


def _check_range(name: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    low, high = bounds
    if not math.isfinite(value) or not low <= value <= high:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"{name} must be between {low:g} and {high:g} {unit}"
        )


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(READ_CHUNK_BYTES):
        yield chunk


@router.post(
    "/upload",
    response_model=HealthRecordRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **AUTH_RESPONSES,
        400: {"description": "temperature/humidity out of range, or an unsupported audio file"},
        503: {"description": "audio was sent but cry detection is unavailable"},
    },
)
async def upload(
    user: CurrentUser,
    services: ServicesDep,
    # The ranges are documented in the schema but checked in the handler, which answers 400.
    temperature: Annotated[
        float,
        Form(
            description="body temperature, °C",
            json_schema_extra={
                "minimum": BODY_TEMPERATURE_RANGE_C[0],
                "maximum": BODY_TEMPERATURE_RANGE_C[1],
            },
        ),
    ],
    humidity: Annotated[
        float,
        Form(
            description="room relative humidity, %",
            json_schema_extra={"minimum": HUMIDITY_RANGE_PCT[0], "maximum": HUMIDITY_RANGE_PCT[1]},
        ),
    ],
    notes: Annotated[str | None, Form(max_length=MAX_NOTES_LENGTH, pattern=NO_NUL_PATTERN)] = None,
    audio: Annotated[
        UploadFile | None,
        File(description="WAV, MP3, M4A, OGG or FLAC; recognised by content, not name"),
    ] = None,
) -> HealthRecord:
    _check_range("temperature", temperature, BODY_TEMPERATURE_RANGE_C, "°C")
    _check_range("humidity", humidity, HUMIDITY_RANGE_PCT, "%")
    cry_detected, confidence, audio_url = False, None, None
    # Browsers send an empty file part when no file was chosen: that is "no audio".
    if audio is not None and (audio.filename or audio.size):
        cry_detected, confidence, audio_url = await _analyse_audio(services, user.id, audio)
    sick = is_sick(cry_detected, temperature, NurserySettings())
    record, _alert = await services.storage.add_upload(
        UploadRow(
            user_id=user.id,
            time=datetime.now(UTC),
            temperature=temperature,
            humidity=humidity,
            notes=notes,
            audio_url=audio_url,
            cry_detected=cry_detected,
            sick_detected=sick,
            cry_confidence=confidence,
        )
    )
    return record


async def _analyse_audio(
    services: ServicesDep, user_id: int, audio: UploadFile
) -> tuple[bool, float, str]:
    if not services.analyzer.ready:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"cry detection is unavailable: {services.analyzer.problem}",
        )
    try:
        stored = await services.audio_store.save(user_id, _chunks(audio))
    except UploadError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    try:
        async with services.analyzer.slots:
            decoded = await asyncio.to_thread(
                decode_audio,
                stored.path,
                stored.format,
                services.analyzer.sample_rate,
                MAX_AUDIO_SECONDS,
            )
            analysis = await services.analyzer.analyze(decoded.samples, decoded.sample_rate)
    except UploadError as exc:
        await services.audio_store.delete(stored)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except CryDetectorError as exc:
        await services.audio_store.delete(stored)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    except BaseException:
        # A disconnect (cancellation) or an unexpected failure: no file without a record.
        await asyncio.shield(services.audio_store.delete(stored))
        raise
    return analysis.is_cry, analysis.max_score, stored.relative_url


@router.get("/history", response_model=list[HealthRecordRead], responses=AUTH_RESPONSES)
async def history(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    cry_detected: bool | None = None,
    sick_detected: bool | None = None,
    start_date: QueryTime | None = None,
    end_date: QueryTime | None = None,
) -> list[HealthRecord]:
    query = HistoryQuery(
        limit=limit,
        offset=offset,
        cry_detected=cry_detected,
        sick_detected=sick_detected,
        start=start_date,
        end=end_date,
    )
    return await services.storage.list_health_records(user.id, query)


@router.get("/gaps", response_model=list[GapRead], responses=AUTH_RESPONSES)
async def gaps(
    user: CurrentUser,
    services: ServicesDep,
    start_date: QueryTime | None = None,
    end_date: QueryTime | None = None,
) -> list[Gap]:
    """Where the history has no device data, and why, over the same range as
    ``/health/history``: show "no data 02:10-02:25, device offline" instead of a flat line.
    (The history keeps the app's documented list shape; gaps are listed beside it.)"""
    return await services.storage.list_gaps(user.id, None, start_date, end_date)


@router.get("/stats", response_model=HealthStatsRead, responses=AUTH_RESPONSES)
async def stats(user: CurrentUser, services: ServicesDep) -> HealthStats:
    return await services.storage.health_stats(user.id)


@router.get(
    "/timeseries",
    response_model=TimeSeriesRead,
    responses={**AUTH_RESPONSES, 400: {"description": "invalid interval or date range"}},
)
async def timeseries(
    user: CurrentUser,
    services: ServicesDep,
    interval: Annotated[str, Query(max_length=32, examples=["1 hour", "1 day"])] = "1 hour",
    start_date: QueryTime | None = None,
    end_date: QueryTime | None = None,
) -> TimeSeriesRead:
    try:
        bucket = parse_interval(interval)
    except IntervalError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    end = end_date or datetime.now(UTC)
    start = start_date or end - DEFAULT_SERIES_SPAN
    if start >= end:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "start_date must be before end_date")
    if (end - start) / bucket > MAX_BUCKETS:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"{interval!r} over this range makes more than {MAX_BUCKETS} buckets; "
            "use a longer interval or a shorter range",
        )
    buckets = await services.storage.health_timeseries(user.id, bucket, start, end)
    return TimeSeriesRead.model_validate({"data": buckets}, from_attributes=True)


@router.get("/test/endpoint", response_model=HealthRouterStatus)
async def test_endpoint(services: ServicesDep) -> HealthRouterStatus:
    """Whether the health router and the cry model are up (no authentication)."""
    analyzer = services.analyzer
    state = "AI model ready" if analyzer.ready else f"AI model unavailable: {analyzer.problem}"
    return HealthRouterStatus(message="Health router is working!", cry_detection=state)


@router.get(
    "/{record_id}",
    response_model=HealthRecordRead,
    responses={**AUTH_RESPONSES, 404: {"description": "no such record, or not the caller's"}},
)
async def record(
    record_id: Annotated[int, Path(ge=1, le=MAX_RECORD_ID)],
    user: CurrentUser,
    services: ServicesDep,
) -> HealthRecord:
    found = await services.storage.get_health_record(user.id, record_id)
    if found is None:
        raise NOT_FOUND
    return found


def _aware(moment: datetime) -> datetime:
    """Query dates without a zone are taken as UTC (the documented examples use Z)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
