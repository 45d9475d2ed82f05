"""What each setting of the server commands means, for their ``--help``: the environment
variables ``CollectorSettings.from_env`` and ``ApiSettings.from_env`` (cloud/config.py) read.

tests/unit/test_settings_help.py records the keys those functions really read and fails when one
is missing here, so this list cannot fall behind the code."""

from __future__ import annotations

from collections.abc import Iterable

DATABASE = {
    "DATABASE_URL": "postgresql://user:password@host/db or sqlite:///path (required)",
}
MQTT = {
    "MQTT_HOST": "the broker's host (default 127.0.0.1)",
    "MQTT_PORT": "the broker's port (default 1883)",
    "MQTT_USERNAME": "the broker account; unset: connect anonymously, which the project's "
    "broker refuses",
    "MQTT_PASSWORD": "the broker account's password",
    "MQTT_CA_FILE": "CA certificate (PEM) to verify the broker over TLS; unset: plain MQTT",
}
COLLECTOR = {
    "NURSERY_COLLECTOR_MQTT_USERNAME": "the collector's own broker account (`serve`: one other "
    "than MQTT_USERNAME); default MQTT_USERNAME",
    "NURSERY_COLLECTOR_MQTT_PASSWORD": "its password (required with the username)",
    "NURSERY_COLLECTOR_CLIENT_ID": (
        "MQTT client id (default nursery-collector-1; the project's Mosquitto replaces it "
        "with the account name)"
    ),
    "NURSERY_COLLECTOR_SHARE_GROUP": "shared-subscription group to split load between "
    "collectors (default: none)",
    "NURSERY_COLLECTOR_SESSION_EXPIRY_S": "how long the broker keeps the session (default 3600)",
    "NURSERY_COLLECTOR_HTTP_HOST": "address of /metrics, /healthz, /readyz (default 127.0.0.1)",
    "NURSERY_COLLECTOR_HTTP_PORT": "their port; 0 disables them (default 9100)",
    "NURSERY_COLLECTOR_BATCH_MAX_ITEMS": "messages per database batch (default 3000)",
    "NURSERY_COLLECTOR_BATCH_MAX_DELAY_MS": "longest wait to fill a batch (default 50)",
    "NURSERY_COLLECTOR_CONCURRENT_BATCHES": "batches committing at once (default 2)",
    "NURSERY_COLLECTOR_MAX_IN_FLIGHT": "messages processed at once (default 12000)",
    "NURSERY_COLLECTOR_OFFLINE_CHECK_S": "how often silent devices are checked (default 15)",
    "NURSERY_COLLECTOR_ESCALATION_CHECK_MS": "how often unacknowledged alarms are checked "
    "(default 1000)",
    "NURSERY_COLLECTOR_MAX_CLOCK_AHEAD_S": "readings dated further ahead are dead letters "
    "(default 300)",
    "NURSERY_DEAD_LETTER_RETENTION_DAYS": "days dead letters are kept (default 30)",
    "NURSERY_DEAD_LETTER_MAX_ROWS": "most dead letters kept (default 100000)",
}
API = {
    "JWT_SECRET": "secret that signs access tokens (required; random, 32+ characters)",
    "JWT_ALGORITHM": "HS256, HS384 or HS512 (default HS256)",
    "ACCESS_TOKEN_EXPIRE_MINUTES": "access token lifetime (default 30)",
    "REFRESH_TOKEN_EXPIRE_DAYS": "refresh token lifetime (default 30)",
    "NURSERY_ENV": "development or production (production refuses weak secrets)",
    "NURSERY_UPLOAD_DIR": "where uploaded audio is kept (default var/uploads)",
    "NURSERY_MAX_UPLOAD_MB": "largest upload (default 20)",
    "NURSERY_LOGIN_FAILURES_PER_MINUTE": "failed logins allowed per address/account (default 10)",
    "NURSERY_REGISTRATIONS_PER_HOUR": "registrations per address (default 10)",
    "NURSERY_PASSWORD_HASHING_THREADS": "threads hashing passwords (default 2)",
    "NURSERY_REGISTRATION_QUEUE": "registrations waiting for a hashing thread (default 32)",
    "NURSERY_CORS_ORIGINS": "comma-separated browser origins allowed to call the API",
    "MOSQUITTO_PASSWORD_FILE": "the broker's password file; set to enable device provisioning",
    "MOSQUITTO_PID_FILE": "the broker's pid file (signalled to reload accounts)",
    "NURSERY_DEVICE_MQTT_HOST": "broker address handed to provisioned devices",
    "NURSERY_DEVICE_MQTT_PORT": "broker port handed to devices (default 8883)",
    "NURSERY_DEVICE_MQTT_CA_FILE": "CA certificate handed to devices",
    "NURSERY_VAPID_PRIVATE_KEY": "Web Push signing key from `nursery-cloud push-keys`; unset: "
    "push notifications off",
    "NURSERY_VAPID_SUBJECT": "mailto:<address> or https://<host> push services can reach the "
    "operator at (required with the key)",
    "NURSERY_PUSH_ENDPOINT_HOSTS": "comma-separated push service hosts subscriptions may point "
    "at (default: FCM, Mozilla, Apple, Windows)",
    "NURSERY_PUSH_ALLOW_HTTP": "true allows http:// push endpoints (tests and development only)",
}
API_MQTT_NOTE = "MQTT_* (optional for `api`): where devices' desired settings are published"


def settings_epilog(*groups: dict[str, str], note: str | None = None) -> str:
    """The ``--help`` epilog listing ``groups``' environment variables, one per line."""
    settings = {key: text for group in groups for key, text in group.items()}
    width = max(len(key) for key in settings)
    lines = ["settings (environment variables):"]
    lines += [f"  {key.ljust(width)}  {text}" for key, text in settings.items()]
    if note is not None:
        lines.append(note)
    return "\n".join(lines)


def documented(*groups: Iterable[str]) -> frozenset[str]:
    return frozenset(key for group in groups for key in group)
