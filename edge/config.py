"""The device's configuration file (TOML), validated strictly before anything starts.

Unknown keys are errors, not warnings: a misspelt ``[sensor] pinn = "D17"`` silently falling back
to the default pin would leave a nursery unmonitored. Every error names the key
(``sensor.read_interval_s: ...``). ``firmware_config/edge.example.toml`` documents every key.

The ``[settings]`` table holds the device's local defaults for what parents may change remotely
(``models.contract.DeviceSettings``); remote changes are layered on top (``edge.remote_config``).
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from paho.mqtt.enums import MQTTProtocolVersion
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from models.contract import ContractError, DeviceSettings, validate_device_id


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the key."""


def _device_id(value: str) -> str:
    try:
        return validate_device_id(value)
    except ContractError as exc:
        raise ValueError(str(exc)) from None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DeviceSection(_Section):
    id: Annotated[str, AfterValidator(_device_id)]
    # Outbox, sequence counter and remotely applied settings live here; must survive reboots.
    state_dir: Path = Path("/var/lib/nursery-edge")


class BrokerSection(_Section):
    host: str = Field(min_length=1)
    port: int = Field(default=8883, ge=1, le=65535)
    # Defaults to the device id: every device has its own broker account.
    username: str | None = None
    password: SecretStr | None = None
    # Preferred over ``password``: keeps the secret out of a file that is shown and copied around.
    password_file: Path | None = None
    # CA certificate for TLS; without it the connection is plain TCP (only for a local broker).
    ca_file: Path | None = None
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_initial_s: float = Field(default=1.0, gt=0.0, le=60.0)
    reconnect_max_s: float = Field(default=60.0, gt=0.0, le=3600.0)

    @model_validator(mode="after")
    def _one_password_source(self) -> BrokerSection:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError("reconnect_initial_s must not exceed reconnect_max_s")
        return self

    @property
    def mqtt_protocol(self) -> MQTTProtocolVersion:
        return MQTTProtocolVersion.MQTTv5 if self.protocol == "5" else MQTTProtocolVersion.MQTTv311


class SensorSection(_Section):
    kind: Literal["dht22", "dht11", "simulated", "none"] = "dht22"
    # Board pin name of the data line, as in the wiring guide (GPIO4 is "D4").
    pin: str = Field(default="D4", pattern=r"^D\d{1,2}$")
    # A DHT22 must not be read more often than every 2 s; reads fail routinely, so sample more
    # often than telemetry is sent and report the median.
    read_interval_s: float = Field(default=3.0, ge=2.0, le=600.0)
    median_window: int = Field(default=5, ge=1, le=60)
    fault_after: int = Field(default=5, ge=1, le=1000)
    # Good reads repeating one value bit for bit (temperature and humidity) this long are a hung
    # sensor; a working DHT22 jitters by a tenth within far less than the default two hours.
    stuck_after_s: float = Field(default=7200.0, ge=60.0, le=7 * 86_400.0)


class AudioSection(_Section):
    source: Literal["microphone", "file", "none"] = "microphone"
    # Microphone by name (a substring of what `nursery-edge check` lists) or index; empty means
    # the system's default input.
    device: str | int = ""
    # For source = "file": WAV/FLAC files replayed as if they were the microphone.
    files: list[Path] = Field(default_factory=list)
    realtime: bool = True
    loop: bool = True
    gap_s: float = Field(default=2.0, ge=0.0, le=3600.0)
    # Seconds of audio per read; smaller means a cry is noticed sooner, at more wake-ups.
    chunk_s: float = Field(default=0.1, ge=0.01, le=2.0)
    # Capacity of the buffer between the sound card and the detector.
    buffer_s: float = Field(default=10.0, ge=1.0, le=300.0)
    # Audio with no variation at all (digital zeros, one value, a stuck DC level) for this long
    # is a dead microphone. Long enough that a driver's brief glitch is not reported; a quiet
    # room never qualifies, however long (edge.detection.audio_health).
    dead_after_s: float = Field(default=30.0, ge=1.0, le=3600.0)

    @model_validator(mode="after")
    def _files_for_file_source(self) -> AudioSection:
        if self.source == "file" and not self.files:
            raise ValueError('source = "file" needs at least one entry in files')
        return self


class DetectorSection(_Section):
    # Model manifest JSON; empty means the model shipped with the package.
    model_manifest: Path | None = None
    num_threads: int = Field(default=1, ge=1, le=4)


class OutboxSection(_Section):
    # About 250 bytes each: 100,000 messages is ~25 MB, 11 days of 10-second telemetry.
    max_messages: int = Field(default=100_000, ge=100, le=10_000_000)
    max_in_flight: int = Field(default=20, ge=1, le=1000)
    # On shutdown, how long to keep sending before leaving the rest for the next start.
    flush_timeout_s: float = Field(default=5.0, ge=0.0, le=120.0)


class AgentConfig(_Section):
    device: DeviceSection
    broker: BrokerSection
    sensor: SensorSection = SensorSection()
    audio: AudioSection = AudioSection()
    detector: DetectorSection = DetectorSection()
    outbox: OutboxSection = OutboxSection()
    settings: DeviceSettings = DeviceSettings()

    def broker_password(self) -> str | None:
        """The password, read from ``password_file`` when set (only now, never at import)."""
        if self.broker.password is not None:
            return self.broker.password.get_secret_value()
        if self.broker.password_file is None:
            return None
        try:
            return self.broker.password_file.read_text().strip() or None
        except OSError as exc:
            raise ConfigError(
                f"broker.password_file: cannot read {exc.filename}: {exc.strerror}"
            ) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown key")
        elif error["type"] == "missing":
            problems.append(f"{key}: required key is missing")
        else:
            problems.append(f"{key}: {error['msg']}")
    return "; ".join(problems)


def parse_config(document: dict[str, Any], source: str = "config") -> AgentConfig:
    """Validate an already parsed TOML document."""
    try:
        return AgentConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def load_config(path: Path) -> AgentConfig:
    """Read and validate the configuration file; raises ConfigError naming what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    config = parse_config(document, str(path))
    if config.broker.password is not None and _readable_by_others(path):
        raise ConfigError(
            f"{path}: broker.password is set but the file is readable by other users; "
            f"run `chmod 600 {path}` or use broker.password_file"
        )
    return config


def _readable_by_others(path: Path) -> bool:
    mode = os.stat(path).st_mode
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def check_files(config: AgentConfig) -> None:
    """The files the configuration names are there; raises ConfigError naming the key.

    Validation proper cannot know the device's disk; this is what ``run`` (and
    ``run --check-config``) can still tell without starting anything.
    """
    if config.audio.source != "file":
        return
    for index, path in enumerate(config.audio.files):
        if not Path(path).is_file():
            raise ConfigError(f"audio.files[{index}]: no such file: {path}")
