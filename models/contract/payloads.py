"""Payload models of wire contract v1.

All payloads are UTF-8 JSON objects sharing one envelope: ``schema_version``, ``device_id``,
``seq`` and ``ts``. Readers ignore fields they do not know, so a newer device can talk to an older
cloud; writers never omit a field an older reader requires. Physically impossible values, NaN and
infinities are rejected here, at the edge of the system, so nothing downstream has to re-check.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from models.contract.topics import ContractError, MessageKind, parse_topic, validate_device_id

SCHEMA_VERSION = 1
# Largest payload a reader accepts. Real messages are a few hundred bytes; anything near this is
# garbage or an attack and goes to the dead letters instead of into memory-hungry parsing.
MAX_PAYLOAD_BYTES = 16 * 1024
# Sequence numbers are stored as PostgreSQL BIGINT.
MAX_SEQ = 2**63 - 1
# The most "not a cry" marks a home's ignore list holds (the cloud sends the newest ones): enough
# for every sound a family has, few enough that matching one episode against all costs nothing.
MAX_IGNORE_MARKS = 32


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a valid ISO 8601 time whose UTC equivalent is before
        # year 1, which Python cannot represent. pydantic turns only ValueError into a
        # validation error: an OverflowError escaped decoding and crashed the collector.
        raise ValueError("time is outside the range of years 1 to 9999 in UTC") from None


def _storable_text(value: str) -> str:
    # Text ends up in PostgreSQL columns and jsonb, which refuse NUL and cannot hold a lone
    # UTF-16 surrogate (JSON "\ud800" decodes to one): such a message failed its whole batch
    # at the database, again on every redelivery, instead of becoming a dead letter.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must not contain unpaired surrogates") from None
    return value


DeviceId = Annotated[str, AfterValidator(validate_device_id)]
Text = Annotated[str, AfterValidator(_storable_text)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Sequence = Annotated[int, Field(ge=0, le=MAX_SEQ)]
Dbfs = Annotated[float, Field(ge=-200.0, le=0.0)]


class Envelope(BaseModel):
    """Fields every v1 payload carries."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    device_id: DeviceId
    # Stream kinds: this message's own number, unique per device and increasing, the dedup key.
    # State kinds: the device's latest assigned stream number when it was sent (a high-water mark).
    # Desired config: the configuration revision.
    seq: Sequence
    ts: UtcDatetime = Field(description="UTC time the message was created, ISO 8601")

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class Telemetry(Envelope):
    """A periodic room reading. A field is absent when its sensor had no valid value."""

    temperature_c: float | None = Field(default=None, ge=-40.0, le=80.0)
    humidity_pct: float | None = Field(default=None, ge=0.0, le=100.0)
    sound_dbfs_avg: Dbfs | None = None
    sound_dbfs_max: Dbfs | None = None
    interval_s: float | None = Field(default=None, gt=0.0, le=86_400.0)


# What the detector heard: at most this many labels per event. Five name the sound well enough
# for a parent ("Baby cry 0.93, Whimper 0.41, Speech 0.08") and keep an alert's NOTIFY (8000
# bytes at most) and the stored row small whatever a device sends.
MAX_HEARD_LABELS = 5
HeardText = Annotated[Text, Field(min_length=1, max_length=64)]


class HeardLabel(BaseModel):
    """One sound class the device's detector heard, with its score: a label of the detector's
    vocabulary (AudioSet class names such as "Baby cry, infant cry"), never audio."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    label: HeardText
    score: float = Field(ge=0.0, le=1.0)


class IgnoredBecause(BaseModel):
    """Why the device did not alert on a cry episode: it sounded like one the home marked
    "not a cry". ``like_episode_id`` is that marked episode, ``marked_at`` when it was marked,
    ``similarity`` how alike the two sounds' fingerprints are (cosine, 0..1)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    like_episode_id: Sequence
    marked_at: UtcDatetime
    similarity: float = Field(ge=0.0, le=1.0)


# "test": sent on request by `nursery-edge test-alert`, to check that alerts reach the app.
# "loud_sound": the level stayed above the loud-sound threshold (the fallback for missed cries).
EventKind = Literal["cry_started", "cry_ended", "test", "loud_sound"]


class Event(Envelope):
    """Something that happened in the nursery, published the moment it is detected."""

    kind: EventKind
    # The seq of the episode's ``cry_started``, so an end can be matched to its start.
    episode_id: Sequence
    confidence: float = Field(ge=0.0, le=1.0)
    sound_dbfs: Dbfs | None = None
    duration_s: float | None = Field(default=None, ge=0.0, le=86_400.0)
    # The room when the event was detected (the device's latest valid reading, at most a couple
    # of minutes old), so an alert can show it; absent without a recent reading.
    temperature_c: float | None = Field(default=None, ge=-40.0, le=80.0)
    humidity_pct: float | None = Field(default=None, ge=0.0, le=100.0)
    # Why a ``cry_ended`` was not heard as quiet: "device_restarted" closes an episode a power
    # cut or crash left open. A plain string, not a closed set, so an older reader does not
    # reject a reason added later.
    end_reason: str | None = Field(default=None, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    # What the detector heard in the episode besides its cry score (``confidence``): its top
    # labels, best first. Absent when the detector gives none (older firmware, a model without
    # a labelled backbone). Added to v1 without a new ``schema_version``: the field is optional,
    # so a message without it stays valid, and readers ignore unknown fields, so a collector
    # that predates it accepts a message with it (and drops it). A new ``schema_version``
    # would tell no reader anything it needs, and the contract bumps it only with the topic
    # root (``nursery/v2/``) for a change an older reader cannot take (docs/protocol.md).
    heard: list[HeardLabel] | None = Field(default=None, max_length=MAX_HEARD_LABELS)
    # Set on a ``cry_started`` the device heard but did not alert on, because it sounded like
    # an episode the home marked "not a cry" (the ``ignore/desired`` list). The episode is still
    # sent and recorded, so parents see it in the history and can undo the mark. Optional and
    # added to v1 like ``heard``: an older collector drops it (and alerts as before).
    ignored: IgnoredBecause | None = None


# Bounded: fault text ends up in alerts, which PostgreSQL NOTIFY carries (8000 bytes at most).
FaultName = Annotated[Text, Field(min_length=1, max_length=64)]
FaultDetail = Annotated[Text, Field(max_length=300)]


class Status(Envelope):
    """Retained device state; the broker publishes the ``offline`` last will on connection loss."""

    state: Literal["online", "offline"]
    firmware_version: Text | None = Field(default=None, max_length=64)
    model_version: Text | None = Field(default=None, max_length=64)
    uptime_s: float | None = Field(default=None, ge=0.0)
    outbox_depth: int | None = Field(default=None, ge=0)
    # Telemetry the full outbox had to drop since the device was installed (events never are).
    dropped_telemetry: int | None = Field(default=None, ge=0)
    sensor_failures: int | None = Field(default=None, ge=0)
    audio_overflows: int | None = Field(default=None, ge=0)
    audio_errors: int | None = Field(default=None, ge=0)
    cpu_temperature_c: float | None = Field(default=None, ge=-40.0, le=150.0)
    # Short names of what is wrong right now: "sensor" (reads failing), "sensor_stuck"
    # (identical values for hours), "microphone" (no audio arriving), "microphone_dead"
    # (digital zeros, no variance or a stuck DC level: unplugged, muted or broken, unlike a
    # quiet room, which always has a noise floor), "cry_model_degraded" (the cry model's stage
    # two did not load: the small model alone listens), "clock" (not synchronised),
    # "outbox_full", "sound_memory" (the "not a cry" memory cannot be written: kept in RAM).
    faults: list[FaultName] = Field(default_factory=list, max_length=32)
    # For each fault, what the device saw, in a sentence ("all samples zero for 60 s").
    fault_details: dict[FaultName, FaultDetail] | None = Field(default=None, max_length=32)
    # The home's list of sounds to ignore as the device holds it: how many fingerprints it
    # uses, when the list last changed on the device, the ``ignore/desired`` revision it has
    # applied, and the marked episodes it has no fingerprint for (too old, not a cry episode
    # of this device, or recorded by another model), which therefore change nothing.
    ignore_list_size: int | None = Field(default=None, ge=0)
    ignore_list_changed_at: UtcDatetime | None = None
    ignore_list_revision: Sequence | None = None
    ignore_list_unknown: list[Sequence] | None = Field(default=None, max_length=MAX_IGNORE_MARKS)


SettingValue = float | int | bool | Text
SettingName = Text


class DesiredConfig(Envelope):
    """Settings the cloud wants the device to run with; ``seq`` is the revision."""

    settings: dict[SettingName, SettingValue]


class IgnoreMark(BaseModel):
    """One episode a caregiver marked "not a cry": its id (the device's own ``episode_id``) and
    when it was marked. No sound, no fingerprint: the device keeps those itself."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    episode_id: Sequence
    marked_at: UtcDatetime


class IgnoreList(Envelope):
    """The home's "not a cry" marks, newest first; ``seq`` is the list's revision. The whole
    list every time (an undo or a clear is a shorter list), so a device that missed messages
    only needs the latest one."""

    marks: list[IgnoreMark] = Field(default_factory=list, max_length=MAX_IGNORE_MARKS)


class ReportedConfig(Envelope):
    """The device's answer to a desired config: what it now runs with, or why it refused."""

    revision: Sequence
    accepted: bool
    settings: dict[SettingName, SettingValue]
    error: Text | None = Field(default=None, max_length=500)


Payload = Telemetry | Event | Status | DesiredConfig | ReportedConfig | IgnoreList

PAYLOAD_MODELS: dict[MessageKind, type[Envelope]] = {
    MessageKind.TELEMETRY: Telemetry,
    MessageKind.EVENT: Event,
    MessageKind.STATUS: Status,
    MessageKind.DESIRED_CONFIG: DesiredConfig,
    MessageKind.REPORTED_CONFIG: ReportedConfig,
    MessageKind.IGNORE_LIST: IgnoreList,
}


def kind_of(payload: Envelope) -> MessageKind:
    for kind, model in PAYLOAD_MODELS.items():
        if type(payload) is model:
            return kind
    raise ContractError(f"{type(payload).__name__} is not a v1 payload model")


def decode_message(topic: str, raw: bytes) -> Envelope:
    """Parse a message received on ``topic``; raises ContractError naming what is wrong.

    Besides the payload's own validation this enforces the size bound and that the device id in
    the payload is the one in the topic (the broker ACL authenticates the topic, not the body).
    """
    device_topic = parse_topic(topic)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    model = PAYLOAD_MODELS[device_topic.kind]
    try:
        # Parsing and validating in one pass (pydantic-core) is several times faster than
        # json.loads followed by validation, which matters at thousands of messages a second.
        payload = model.model_validate_json(raw)
    except ValidationError as exc:
        raise ContractError(_describe(exc)) from exc
    if payload.device_id != device_topic.device_id:
        raise ContractError(
            f"payload device_id {payload.device_id!r} does not match topic device "
            f"{device_topic.device_id!r}"
        )
    return payload


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return f"payload is not UTF-8 JSON: {first['msg']}"
    if first["type"] == "model_type" and not first["loc"]:
        return "payload is not a JSON object"
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or 'payload'}: {error['msg']}"
        for error in exc.errors()
    ]
    return "; ".join(problems)
