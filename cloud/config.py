"""Settings of the cloud processes, parsed once in ``main()`` from the environment and passed down.

Names follow the parents' app documentation (``DATABASE_URL``, ``JWT_SECRET``, ``JWT_ALGORITHM``,
``ACCESS_TOKEN_EXPIRE_MINUTES``); everything else is prefixed ``NURSERY_`` or ``MQTT_``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from models.contract import LARGEST_MAX_AHEAD

if TYPE_CHECKING:
    # Only for the annotation: cloud.push.settings loads cryptography and py-vapid, which the
    # collector never needs; ApiSettings.from_env imports it when it runs.
    from cloud.push.settings import PushSettings

# The example secret from the app documentation; refused outside development.
EXAMPLE_JWT_SECRETS = frozenset(
    {"supersecretkey", "your-super-secret-key-change-this-in-production", "change-me"}
)
ALLOWED_JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_JWT_SECRET_LENGTH = 32
# The strength a production secret must show: HS256 signs with a 256-bit key, and 128 bits is
# the floor below which guessing it offline becomes plausible.
MIN_JWT_SECRET_BITS = 128


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the key."""


def _repeating_unit(text: str) -> str:
    """The shortest block that ``text`` repeats (``'abcabcab'`` -> ``'abc'``): padding by
    repetition adds length, not strength."""
    for size in range(1, len(text) // 2 + 1):
        block = text[:size]
        if (block * (len(text) // size + 1))[: len(text)] == text:
            return block
    return text


def estimated_secret_bits(secret: str) -> float:
    """A conservative estimate of a secret's strength: the Shannon entropy of its characters
    times the length of its repeating unit. A random token scores about its real strength
    (token_urlsafe(48): ~350 bits); 'a'*32 scores 0 and a repeated phrase only its unit."""
    unit = _repeating_unit(secret)
    counts = Counter(unit)
    per_char = sum(n / len(unit) * math.log2(len(unit) / n) for n in counts.values())
    return per_char * len(unit)


def jwt_secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is too weak to sign production tokens, or None."""
    lowered = secret.lower()
    if any(example in lowered for example in EXAMPLE_JWT_SECRETS):
        return "contains the documented example secret"
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        return f"is shorter than {MIN_JWT_SECRET_LENGTH} characters"
    bits = estimated_secret_bits(secret)
    if bits < MIN_JWT_SECRET_BITS:
        return (
            f"looks guessable (about {bits:.0f} bits of entropy estimated from its characters, "
            f"at least {MIN_JWT_SECRET_BITS} needed)"
        )
    return None


def _require(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise ConfigError(f"{key} is required but not set")
    return value


def _int(env: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class ProvisioningSettings:
    """Where device accounts are written and what devices are told about the broker.

    Set ``MOSQUITTO_PASSWORD_FILE`` to enable provisioning (``POST /installer/devices``,
    ``nursery-cloud device add``); without it those answer that provisioning is not configured.
    """

    # The broker's password_file and pid_file (the API writes one and signals the other).
    password_file: str
    pid_file: str
    # The broker address devices connect to (its public TLS listener).
    device_host: str
    device_port: int = 8883
    # PEM of the CA that signed the broker's certificate, handed to devices at setup.
    ca_certificate: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProvisioningSettings | None:
        password_file = env.get("MOSQUITTO_PASSWORD_FILE", "").strip()
        if not password_file:
            return None
        ca_file = env.get("NURSERY_DEVICE_MQTT_CA_FILE", "").strip()
        ca_certificate = None
        if ca_file:
            try:
                ca_certificate = Path(ca_file).read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"NURSERY_DEVICE_MQTT_CA_FILE: cannot read {ca_file}: {exc}"
                ) from None
            if "BEGIN CERTIFICATE" not in ca_certificate:
                raise ConfigError(
                    f"NURSERY_DEVICE_MQTT_CA_FILE: {ca_file} is not a PEM certificate"
                )
        return cls(
            password_file=password_file,
            pid_file=_require(env, "MOSQUITTO_PID_FILE"),
            device_host=_require(env, "NURSERY_DEVICE_MQTT_HOST"),
            device_port=_int(env, "NURSERY_DEVICE_MQTT_PORT", 8883, 1, 65535),
            ca_certificate=ca_certificate,
        )


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MqttSettings:
        return cls(
            host=env.get("MQTT_HOST", "127.0.0.1"),
            port=_int(env, "MQTT_PORT", 1883, 1, 65535),
            username=env.get("MQTT_USERNAME") or None,
            password=env.get("MQTT_PASSWORD") or None,
            ca_file=env.get("MQTT_CA_FILE") or None,
        )


@dataclass(frozen=True, slots=True)
class CollectorSettings:
    database_url: str = field(repr=False)
    # The broker names every connection after its account (use_username_as_clientid), so the
    # account is what keys this collector's persistent session (and what it queued meanwhile):
    # one account per collector instance, and under `serve` one other than the API's.
    mqtt: MqttSettings
    # Sent to the broker, which replaces it with the account's name; kept for brokers without
    # use_username_as_clientid and for the logs.
    client_id: str = "nursery-collector-1"
    # None: a plain subscription, which a persistent session keeps across broker restarts.
    # A group name: a shared subscription ($share/<group>/...) so several collectors split the
    # load. Mosquitto 2.0 does not restore shared subscriptions from its persistence file, so
    # after a broker restart, messages published before the collectors re-subscribe are lost;
    # scale out with a group only where that window is acceptable (docs/protocol.md).
    share_group: str | None = None
    session_expiry_s: int = 3600
    batch_max_items: int = 3000
    batch_max_delay_s: float = 0.05
    # Batches committing at once (each on its own database connection, kept in batch order).
    concurrent_batches: int = 2
    # Messages being processed at once; also announced to the broker as Receive Maximum.
    max_in_flight: int = 12000
    offline_check_interval_s: float = 15.0
    # How often unacknowledged alarms are checked for escalation (their delay is per nursery).
    escalation_check_interval_s: float = 1.0
    # 0 disables the /metrics, /healthz and /readyz endpoint.
    http_port: int = 9100
    http_host: str = "127.0.0.1"
    # Readings and events dated further ahead of the server clock are dead letters
    # (models.contract.time_window; docs/protocol.md, "Time window").
    max_clock_ahead_s: int = 300
    # Dead-letter retention (docs/operations.md, "Dead letters").
    dead_letter_retention_days: int = 30
    dead_letter_max_rows: int = 100_000
    dead_letter_prune_interval_s: float = 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CollectorSettings:
        return cls(
            database_url=_require(env, "DATABASE_URL"),
            mqtt=_collector_mqtt(env),
            client_id=env.get("NURSERY_COLLECTOR_CLIENT_ID", "nursery-collector-1"),
            share_group=env.get("NURSERY_COLLECTOR_SHARE_GROUP", "").strip() or None,
            session_expiry_s=_int(env, "NURSERY_COLLECTOR_SESSION_EXPIRY_S", 3600, 0, 2**32 - 1),
            batch_max_items=_int(env, "NURSERY_COLLECTOR_BATCH_MAX_ITEMS", 3000, 1, 100_000),
            batch_max_delay_s=_int(env, "NURSERY_COLLECTOR_BATCH_MAX_DELAY_MS", 50, 1, 10_000)
            / 1000.0,
            concurrent_batches=_int(env, "NURSERY_COLLECTOR_CONCURRENT_BATCHES", 2, 1, 8),
            max_in_flight=_int(env, "NURSERY_COLLECTOR_MAX_IN_FLIGHT", 12000, 1, 65_535),
            offline_check_interval_s=float(
                _int(env, "NURSERY_COLLECTOR_OFFLINE_CHECK_S", 15, 1, 3600)
            ),
            escalation_check_interval_s=_int(
                env, "NURSERY_COLLECTOR_ESCALATION_CHECK_MS", 1000, 100, 60_000
            )
            / 1000.0,
            http_port=_int(env, "NURSERY_COLLECTOR_HTTP_PORT", 9100, 0, 65535),
            http_host=env.get("NURSERY_COLLECTOR_HTTP_HOST", "127.0.0.1"),
            max_clock_ahead_s=_int(
                env,
                "NURSERY_COLLECTOR_MAX_CLOCK_AHEAD_S",
                300,
                0,
                int(LARGEST_MAX_AHEAD.total_seconds()),
            ),
            dead_letter_retention_days=_int(env, "NURSERY_DEAD_LETTER_RETENTION_DAYS", 30, 1, 3650),
            dead_letter_max_rows=_int(
                env, "NURSERY_DEAD_LETTER_MAX_ROWS", 100_000, 100, 100_000_000
            ),
        )


def _collector_mqtt(env: Mapping[str, str]) -> MqttSettings:
    """MQTT_* - with the collector's own account when NURSERY_COLLECTOR_MQTT_USERNAME is set
    (``nursery-cloud serve``, where the API's publisher holds MQTT_USERNAME's connection)."""
    mqtt = MqttSettings.from_env(env)
    username = env.get("NURSERY_COLLECTOR_MQTT_USERNAME", "").strip()
    if not username:
        return mqtt
    password = env.get("NURSERY_COLLECTOR_MQTT_PASSWORD") or None
    if password is None:
        raise ConfigError(
            "NURSERY_COLLECTOR_MQTT_PASSWORD is required when NURSERY_COLLECTOR_MQTT_USERNAME "
            "is set"
        )
    return replace(mqtt, username=username, password=password)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    database_url: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    jwt_algorithm: str = "HS256"
    access_token_expire_minutes: int = 30
    refresh_token_expire_days: int = 30
    environment: str = "development"
    # The broker the API publishes devices' desired config to (as svc.api); None: not published.
    mqtt: MqttSettings | None = None
    # Uploaded audio is kept here, outside any web root, under generated names.
    upload_dir: str = "var/uploads"
    max_upload_bytes: int = 20 * 1024 * 1024
    # Failed logins allowed per minute per client address (then refused, with a doubling
    # backoff) and per account (then paced: one attempt per 60/N s). docs/api.md, rate limits.
    login_failures_per_minute: int = 10
    # Registrations per hour per client address.
    registrations_per_hour: int = 10
    # Threads hashing passwords (argon2 takes a core each); registrations use at most one less.
    password_hashing_threads: int = 2
    # Registrations waiting for a hashing thread before further ones are refused with 503.
    registration_queue: int = 32
    # Browser origins allowed to call the API (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
    # Device provisioning by installers; None: not offered.
    provisioning: ProvisioningSettings | None = None
    # Web Push to caregivers' phones; None: not configured (GET /push/config says so).
    push: PushSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiSettings:
        environment = env.get("NURSERY_ENV", "development")
        if environment not in ("development", "production"):
            raise ConfigError(
                f"NURSERY_ENV must be 'development' or 'production', got {environment!r}"
            )
        algorithm = env.get("JWT_ALGORITHM", "HS256")
        if algorithm not in ALLOWED_JWT_ALGORITHMS:
            raise ConfigError(
                f"JWT_ALGORITHM must be one of {', '.join(ALLOWED_JWT_ALGORITHMS)}, "
                f"got {algorithm!r}"
            )
        secret = _require(env, "JWT_SECRET")
        if environment != "development":
            problem = jwt_secret_weakness(secret)
            if problem is not None:
                raise ConfigError(
                    f"JWT_SECRET {problem}; set a random secret outside development, e.g. the "
                    "output of: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
        # Here, not at the top: see the TYPE_CHECKING import.
        from cloud.push.settings import PushSettings

        push = PushSettings.from_env(env)
        if push is not None and push.allow_http and environment != "development":
            raise ConfigError(
                "NURSERY_PUSH_ALLOW_HTTP is for tests and local development only: push "
                "endpoints must be https with NURSERY_ENV=production"
            )
        return cls(
            database_url=_require(env, "DATABASE_URL"),
            jwt_secret=secret,
            jwt_algorithm=algorithm,
            access_token_expire_minutes=_int(env, "ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, 24 * 60),
            refresh_token_expire_days=_int(env, "REFRESH_TOKEN_EXPIRE_DAYS", 30, 1, 365),
            environment=environment,
            mqtt=MqttSettings.from_env(env) if env.get("MQTT_HOST", "").strip() else None,
            upload_dir=env.get("NURSERY_UPLOAD_DIR", "").strip() or "var/uploads",
            max_upload_bytes=_int(env, "NURSERY_MAX_UPLOAD_MB", 20, 1, 500) * 1024 * 1024,
            login_failures_per_minute=_int(env, "NURSERY_LOGIN_FAILURES_PER_MINUTE", 10, 1, 10_000),
            registrations_per_hour=_int(env, "NURSERY_REGISTRATIONS_PER_HOUR", 10, 1, 100_000),
            password_hashing_threads=_int(env, "NURSERY_PASSWORD_HASHING_THREADS", 2, 2, 64),
            registration_queue=_int(env, "NURSERY_REGISTRATION_QUEUE", 32, 1, 10_000),
            cors_origins=tuple(
                origin.strip()
                for origin in env.get("NURSERY_CORS_ORIGINS", "").split(",")
                if origin.strip()
            ),
            provisioning=ProvisioningSettings.from_env(env),
            push=push,
        )
