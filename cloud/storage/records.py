"""Plain records passed across the storage interface (no database types leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

RecordSource = Literal["device", "upload"]
# "parent" uses the app; "installer" may also provision devices and revoke those it provisioned.
UserRole = Literal["parent", "installer"]
USER_ROLES: tuple[UserRole, ...] = ("parent", "installer")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str | None
    created_at: datetime
    role: UserRole = "parent"
    # Moved on by logging out everywhere or a new password: older access tokens stop working.
    session_generation: int = 0


@dataclass(frozen=True, slots=True)
class UserCredentials:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class TelemetryRow:
    """One device reading as the collector stores it."""

    device_id: str
    seq: int
    time: datetime
    received_at: datetime
    temperature: float | None
    humidity: float | None
    sound_dbfs_avg: float | None
    sound_dbfs_max: float | None
    # The message as received, kept so a row that cannot be stored becomes a dead letter.
    raw: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """A row of the parents' history: a device reading or an app upload. ``user_id`` is whose
    history it is shown in: the uploader for an upload, the viewing member for a device
    reading, so every record a user is given carries their own id."""

    id: int
    user_id: int
    source: RecordSource
    device_id: str | None
    temperature: float | None
    humidity: float | None
    audio_url: str | None
    cry_detected: bool
    sick_detected: bool
    created_at: datetime
    notes: str | None


@dataclass(frozen=True, slots=True)
class UploadRow:
    """A reading the parents upload from the app (``POST /health/upload``), audio already
    analysed: ``cry_confidence`` is the detector's score, None without audio."""

    user_id: int
    time: datetime
    temperature: float
    humidity: float
    notes: str | None
    audio_url: str | None
    cry_detected: bool
    sick_detected: bool
    cry_confidence: float | None


@dataclass(frozen=True, slots=True)
class HealthStats:
    """Totals over a user's whole history; see ``Storage.health_stats`` for the definitions."""

    total_records: int
    cry_detected_count: int
    sick_detected_count: int
    avg_temperature: float | None
    avg_humidity: float | None
    latest_record: HealthRecord | None


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """One bucket of ``Storage.health_timeseries``; ``time`` is the bucket's start."""

    time: datetime
    avg_temperature: float | None
    avg_humidity: float | None
    record_count: int
    cry_count: int
    sick_count: int


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    limit: int = 100
    offset: int = 0
    cry_detected: bool | None = None
    sick_detected: bool | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class HeardLabel:
    """A sound class the device's detector heard in a cry episode, with its score (0..1)."""

    label: str
    score: float


@dataclass(frozen=True, slots=True)
class IgnoredEpisodeRow:
    """Why the device did not alert on a cry episode, as stored in ``events.ignored`` (from the
    contract's ``Event.ignored``, models.contract.IgnoredBecause): it sounded like episode
    ``like_episode_id``, marked "not a cry" at ``marked_at``, this alike (cosine similarity of
    the two fingerprints, 0..1)."""

    like_episode_id: int
    marked_at: datetime
    similarity: float


@dataclass(frozen=True, slots=True)
class EventRow:
    """One device event (cry started/ended) as the collector stores it."""

    device_id: str
    seq: int
    time: datetime
    received_at: datetime
    kind: str
    episode_id: int
    confidence: float
    sound_dbfs: float | None
    duration_s: float | None
    raw: bytes = field(default=b"", repr=False)
    # The room the device measured when it detected the event (not stored as columns: the cry
    # alert shows it).
    temperature: float | None = None
    humidity: float | None = None
    # Why a ``cry_ended`` was not heard as quiet ("device_restarted"); None for a heard end.
    end_reason: str | None = None
    # What the detector heard (the contract's ``heard``), best first; empty when it said nothing.
    heard: tuple[HeardLabel, ...] = ()
    # Set on a ``cry_started`` the device did not alert on: it sounded like a marked episode.
    ignored: IgnoredEpisodeRow | None = None


@dataclass(frozen=True, slots=True)
class StatusRow:
    """A device's status message: presence, versions and health."""

    device_id: str
    seq: int
    time: datetime
    received_at: datetime
    online: bool
    firmware_version: str | None
    model_version: str | None
    details: dict[str, object]
    raw: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class ReportedConfigRow:
    """A device's answer to its desired config: the ``revision`` it applied (``accepted``) or
    refused (with ``error``), and the settings it runs with now. Latest revision wins."""

    device_id: str
    seq: int
    time: datetime
    received_at: datetime
    revision: int
    accepted: bool
    settings: dict[str, object]
    error: str | None
    raw: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be accepted, kept with the reason: verbatim up to a bound,
    beyond it the first bytes with the whole message's size and SHA-256
    (``cloud.storage.dead_letter_plan.capped``)."""

    topic: str
    payload: bytes
    error: str
    received_at: datetime
    # Of the message as received; None until capped (``payload`` is then all of it).
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class IngestBatch:
    readings: list[TelemetryRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    statuses: list[StatusRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    # Last, so positional construction (readings, events, statuses) keeps its meaning.
    reported: list[ReportedConfigRow] = field(default_factory=list)

    def __len__(self) -> int:
        parts = (self.readings, self.events, self.statuses, self.dead_letters, self.reported)
        return sum(len(part) for part in parts)

    def device_rows(self) -> list[TelemetryRow | EventRow | StatusRow | ReportedConfigRow]:
        return [*self.readings, *self.events, *self.statuses, *self.reported]

    def device_ids(self) -> list[str]:
        return sorted({row.device_id for row in self.device_rows()})


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """A committed alert. Device alerts (the collector's rules) carry ``device_id`` and no
    ``user_id`` (whoever is a member of the device when it is read is told); upload alerts carry
    the uploading ``user_id`` and no device."""

    id: int
    device_id: str | None
    kind: str
    time: datetime
    created_at: datetime
    message: str
    sick_detected: bool
    details: dict[str, object]
    # Last and defaulted so alerts serialised before uploads had alerts still load.
    user_id: int | None = None
    # When the message that raised it reached the server (device alerts from a message).
    received_at: datetime | None = None
    # Alarms (cry, loud sound, offline) stay open until a caregiver acknowledges them and are
    # escalated meanwhile; notices (climate back to normal, device online, ...) do not.
    needs_ack: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = None
    escalation_level: int = 0
    # What this announcement is: "raised" (new, to every member), "escalated" (sent again at
    # ``escalation_level`` to ``targets``), "acknowledged" (taken: the others' alarms stop).
    announcement: str = "raised"
    targets: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestResult:
    readings_stored: int = 0
    events_stored: int = 0
    statuses_applied: int = 0
    dead_letters: int = 0
    alerts: list[StoredAlert] = field(default_factory=list)
    # Stream messages of known devices that were stored already (redeliveries, replays).
    duplicates: int = 0
    # Devices whose reported config a newer revision (or a newer copy of it) replaced.
    reported_applied: int = 0
    # The newest new reading of each device, announced live to the API after the commit.
    latest_readings: list[TelemetryRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What the cloud knows about a device: presence, versions and clock health."""

    device_id: str
    owner_id: int | None
    name: str | None
    online: bool
    last_seen: datetime | None
    firmware_version: str | None
    model_version: str | None
    max_seq: int | None
    clock_offset_s: float | None
    clock_drift: bool


# --- devices, sharing, alerts and sessions (the parents' API) -------------------------------


@dataclass(frozen=True, slots=True)
class NotACryMark:
    """A cry episode of a device a member marked "not a cry": the device ignores episodes that
    sound like it. ``marked_by`` is None once that account is deleted."""

    device_id: str
    episode_id: int
    marked_at: datetime
    marked_by: int | None
    marked_by_name: str | None


@dataclass(frozen=True, slots=True)
class IgnoreListState:
    """A device's "not a cry" list: the cloud's side - ``revision`` (the ``ignore/desired``
    ``seq``, raised by every change) and ``marks``, newest first, at most ``MAX_IGNORE_MARKS``
    (exactly what the device is sent) - and the device's side from its latest status (all None,
    ``device_unknown`` empty, until it has reported its list): how many fingerprints it uses,
    when its list last changed, the revision it applied and the marked episodes it has no
    fingerprint for."""

    device_id: str
    revision: int
    marks: list[NotACryMark]
    device_size: int | None = None
    device_changed_at: datetime | None = None
    device_revision: int | None = None
    device_unknown: list[int] = field(default_factory=list)


MemberRole = Literal["owner", "caregiver"]
# What presenting a refresh token did; see ``Storage.use_refresh_token``.
RefreshUse = Literal["ok", "reused", "unknown", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """A nursery as one of its members sees it. ``nursery_settings`` are the alert rules'
    settings (``cloud.rules.NurserySettings`` keys), ``device_settings`` what the device is told
    to run with (``models.contract.DeviceSettings`` keys); every change of the latter raises
    ``device_settings_revision``, the revision the device is sent."""

    device_id: str
    name: str | None
    role: MemberRole
    online: bool
    last_seen: datetime | None
    firmware_version: str | None
    model_version: str | None
    claimed_at: datetime | None
    nursery_settings: dict[str, object]
    device_settings: dict[str, object]
    device_settings_revision: int
    # What the device last reported on ``config/reported`` (all None until it has): the
    # revision it applied or refused, why it refused, when, and the settings it runs with.
    reported_revision: int | None = None
    reported_accepted: bool | None = None
    reported_error: str | None = None
    reported_at: datetime | None = None
    reported_settings: dict[str, object] | None = None
    # The "not a cry" list (None only where a caller built a summary without it).
    ignore_list: IgnoreListState | None = None


@dataclass(frozen=True, slots=True)
class DeviceAudience:
    """Who is shown a device's live data, and from when: its members (owner first) and the start
    of its current claim period (None: since it was registered to its family)."""

    member_ids: list[int]
    period_start: datetime | None


@dataclass(frozen=True, slots=True)
class Caregiver:
    """A member of a device: its owner or a caregiver the owner shared it with."""

    user_id: int
    email: str
    name: str | None
    role: MemberRole
    added_at: datetime


@dataclass(frozen=True, slots=True)
class AlertView:
    """A stored alert as one user sees it: ``read`` is that user's own read mark."""

    id: int
    device_id: str | None
    user_id: int | None
    kind: str
    time: datetime
    created_at: datetime
    message: str
    sick_detected: bool
    details: dict[str, object]
    read: bool
    received_at: datetime | None = None
    needs_ack: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = None
    escalation_level: int = 0


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """Filters of ``Storage.list_user_alerts``; ``start``/``end`` bound the alert's ``time``,
    both included (as ``HistoryQuery``)."""

    limit: int = 100
    offset: int = 0
    device_id: str | None = None
    kind: str | None = None
    unread_only: bool = False
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class CryEpisode:
    """A ``cry_started`` event paired with its ``cry_ended`` (same device and ``episode_id``).
    While the baby still cries ``ended_at`` and ``duration_s`` are None and ``confidence`` /
    ``sound_dbfs`` are the start's; once ended they are the episode's peak and loudest level,
    which the end event carries. ``end_reason`` is the end's: None for an end the detector
    heard (and while still crying), "device_restarted" for one the device closed on its next
    start after a power cut or crash. ``heard`` is what the detector heard: the end's labels (the
    whole episode) once ended, else the start's; empty when the device named nothing.
    ``ignored`` is set when the device did not alert on it (it sounded like a marked episode);
    ``not_a_cry`` when a member marked this episode "not a cry" (and it is on the list)."""

    device_id: str
    episode_id: int
    started_at: datetime
    ended_at: datetime | None
    confidence: float
    duration_s: float | None
    sound_dbfs: float | None
    end_reason: str | None = None
    heard: tuple[HeardLabel, ...] = ()
    ignored: IgnoredEpisodeRow | None = None
    not_a_cry: NotACryMark | None = None


@dataclass(frozen=True, slots=True)
class ProvisionedDevice:
    """A device as its installer sees it: whether parents claimed it, whether it was revoked,
    whether it is online. Never the readings: those are the family's."""

    device_id: str
    created_at: datetime
    claimed: bool
    revoked_at: datetime | None
    online: bool
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """An alert written to one user's socket (the first time per escalation level)."""

    alert_id: int
    user_id: int
    level: int
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """One step in an alert's life: raised, escalated (to ``user_id``), acknowledged (by)."""

    time: datetime
    transition: str
    user_id: int | None
    level: int


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """How promptly a device's alerts reached its caregivers over a window (seconds)."""

    device_id: str
    last_seen: datetime | None
    alerts: int
    unacknowledged: int
    # device event time -> first written to a caregiver's socket
    delay_p50_s: float | None
    delay_p95_s: float | None
    # committed -> acknowledged
    ack_p50_s: float | None
    ack_p95_s: float | None


GapReason = Literal["offline", "missing_messages"]


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch without data from a device, and why. ``end`` is None while it lasts;
    ``closed_at`` is set when replayed data filled it (then it is no gap any more)."""

    id: int
    device_id: str
    start: datetime
    end: datetime | None
    reason: GapReason
    first_seq: int | None
    last_seq: int | None
    closed_at: datetime | None
