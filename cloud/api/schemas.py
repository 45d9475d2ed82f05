"""Request and response bodies of the documented app API (``docs/app-api.md``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

MIN_PASSWORD_LENGTH = 8
# PostgreSQL text cannot hold NUL characters: free text that is stored must not contain one.
NO_NUL_PATTERN = r"^[^\x00]*$"
# Query dates outside this range are refused: nothing is recorded before the Unix epoch (time
# buckets are aligned to it), and the upper bound leaves datetime a year of headroom for
# bucket arithmetic below its year-9999 limit.
EARLIEST_QUERY_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_QUERY_TIME = datetime(9998, 1, 1, tzinfo=UTC)


def _query_time(moment: datetime) -> datetime:
    """Query dates without a zone are UTC (the documented examples use Z); all are compared
    in UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_QUERY_TIME <= utc <= LATEST_QUERY_TIME:
        raise ValueError(
            f"must be between {EARLIEST_QUERY_TIME:%Y-%m-%d} and {LATEST_QUERY_TIME:%Y-%m-%d} (UTC)"
        )
    return utc


QueryTime = Annotated[datetime, AfterValidator(_query_time)]


class UserCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)
    name: str | None = Field(default=None, max_length=200, pattern=NO_NUL_PATTERN)


class LoginRequest(BaseModel):
    email: EmailStr
    password: str = Field(max_length=256)


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str | None
    created_at: datetime


class UserSummary(BaseModel):
    id: int
    email: str
    name: str | None


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    # Extensions to the documented response (older clients ignore them).
    expires_in: int | None = Field(default=None, description="seconds the access token lives")
    refresh_token: str | None = Field(
        default=None,
        description="single-use token for POST /auth/refresh; each use returns a new one",
    )


class LoginResponse(Token):
    user: UserSummary


class HealthRecordRead(BaseModel):
    """A history record. ``source`` and ``device_id`` extend the documented shape: they say
    whether a record came from one of the user's devices or from an app upload."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    temperature: float | None
    humidity: float | None
    audio_url: str | None
    cry_detected: bool
    sick_detected: bool
    created_at: datetime
    notes: str | None
    source: Literal["device", "upload"]
    device_id: str | None


class HealthStatsRead(BaseModel):
    """Totals over the caller's whole history: app uploads and readings of their devices.
    ``cry_detected_count`` counts uploads judged crying plus the devices' cry episodes."""

    model_config = ConfigDict(from_attributes=True)

    total_records: int
    cry_detected_count: int
    sick_detected_count: int
    avg_temperature: float | None
    avg_humidity: float | None
    latest_record: HealthRecordRead | None


class TimeBucketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    time: datetime = Field(description="start of the bucket (UTC, aligned to the Unix epoch)")
    avg_temperature: float | None
    avg_humidity: float | None
    record_count: int
    cry_count: int
    sick_count: int


class TimeSeriesRead(BaseModel):
    data: list[TimeBucketRead] = Field(description="buckets that hold data, newest first")


class HealthRouterStatus(BaseModel):
    message: str
    cry_detection: str
