"""Web Push settings: off without a key, errors that name the variable, the key kept out of
repr, and http endpoints refused in production."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from cloud.config import ApiSettings, ConfigError
from cloud.push.keys import generate_vapid_keys
from cloud.push.settings import DEFAULT_PUSH_ENDPOINT_HOSTS, PushSettings

KEYS = generate_vapid_keys()
SUBJECT = "mailto:ops@example.org"


def env(**values: str) -> dict[str, str]:
    return {
        "NURSERY_VAPID_PRIVATE_KEY": KEYS.private_key,
        "NURSERY_VAPID_SUBJECT": SUBJECT,
    } | values


@pytest.mark.parametrize("value", [None, "", "   "])
def test_push_is_off_without_a_key(value: str | None) -> None:
    values = {"NURSERY_VAPID_SUBJECT": "not even checked"}
    if value is not None:
        values["NURSERY_VAPID_PRIVATE_KEY"] = value
    assert PushSettings.from_env(values) is None
    api = ApiSettings.from_env({"DATABASE_URL": "sqlite:///x.db", "JWT_SECRET": "dev", **values})
    assert api.push is None


def test_the_defaults() -> None:
    settings = PushSettings.from_env(env())
    assert settings == PushSettings(
        vapid_private_key=KEYS.private_key,
        vapid_subject=SUBJECT,
        endpoint_hosts=DEFAULT_PUSH_ENDPOINT_HOSTS,
        allow_http=False,
    )
    assert DEFAULT_PUSH_ENDPOINT_HOSTS == (
        "fcm.googleapis.com",
        "updates.push.services.mozilla.com",
        "push.apple.com",
        "notify.windows.com",
    )


def test_the_api_settings_carry_them() -> None:
    api = ApiSettings.from_env({"DATABASE_URL": "sqlite:///x.db", "JWT_SECRET": "dev", **env()})
    assert api.push == PushSettings.from_env(env())


def test_hosts_and_http_are_read() -> None:
    settings = PushSettings.from_env(
        env(
            NURSERY_PUSH_ENDPOINT_HOSTS=" 127.0.0.1, Push.Example.ORG., ::1 ,",
            NURSERY_PUSH_ALLOW_HTTP="true",
        )
    )
    assert settings is not None
    assert settings.endpoint_hosts == ("127.0.0.1", "push.example.org", "::1")
    assert settings.allow_http is True
    for off in ("false", "0", "no", ""):
        settings = PushSettings.from_env(env(NURSERY_PUSH_ALLOW_HTTP=off))
        assert settings is not None
        assert settings.allow_http is False


@pytest.mark.parametrize(
    "subject",
    ["mailto:ops@example.org", "MAILTO:a.b+push@mail.example.co.uk", "https://example.org",
     "https://push-admin.example.org", "mailto:admin@localhost"],
)  # fmt: skip
def test_subjects_the_signer_accepts(subject: str) -> None:
    settings = PushSettings.from_env(env(NURSERY_VAPID_SUBJECT=subject))
    assert settings is not None
    assert settings.vapid_subject == subject


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("values", "key", "reason"),
    [
        ({"NURSERY_VAPID_PRIVATE_KEY": "not a key"}, "NURSERY_VAPID_PRIVATE_KEY", "base64url"),
        ({"NURSERY_VAPID_PRIVATE_KEY": b64(bytes(31))}, "NURSERY_VAPID_PRIVATE_KEY", "31 bytes"),
        (
            {"NURSERY_VAPID_PRIVATE_KEY": b64(bytes(32))},
            "NURSERY_VAPID_PRIVATE_KEY",
            "not a valid P-256",
        ),
        # The public key pasted in place of the private one.
        ({"NURSERY_VAPID_PRIVATE_KEY": KEYS.public_key}, "NURSERY_VAPID_PRIVATE_KEY", "65 bytes"),
        ({"NURSERY_VAPID_SUBJECT": ""}, "NURSERY_VAPID_SUBJECT", "required"),
        ({"NURSERY_VAPID_SUBJECT": "ops@example.org"}, "NURSERY_VAPID_SUBJECT", "mailto:"),
        ({"NURSERY_VAPID_SUBJECT": "mailto:ops"}, "NURSERY_VAPID_SUBJECT", "mailto:"),
        ({"NURSERY_VAPID_SUBJECT": "http://example.org"}, "NURSERY_VAPID_SUBJECT", "https://"),
        (
            {"NURSERY_VAPID_SUBJECT": "https://example.org/contact"},
            "NURSERY_VAPID_SUBJECT",
            "no path",
        ),
        (
            {"NURSERY_PUSH_ENDPOINT_HOSTS": "https://fcm.googleapis.com"},
            "NURSERY_PUSH_ENDPOINT_HOSTS",
            "no scheme",
        ),
        (
            {"NURSERY_PUSH_ENDPOINT_HOSTS": "fcm.googleapis.com:443"},
            "NURSERY_PUSH_ENDPOINT_HOSTS",
            "no scheme, port",
        ),
        ({"NURSERY_PUSH_ENDPOINT_HOSTS": "*.apple.com"}, "NURSERY_PUSH_ENDPOINT_HOSTS", "got"),
        ({"NURSERY_PUSH_ENDPOINT_HOSTS": " , "}, "NURSERY_PUSH_ENDPOINT_HOSTS", "no host"),
        ({"NURSERY_PUSH_ALLOW_HTTP": "maybe"}, "NURSERY_PUSH_ALLOW_HTTP", "true or false"),
    ],
)
def test_invalid_settings_name_the_variable(values: dict[str, str], key: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as refused:
        PushSettings.from_env(env(**values))
    assert key in str(refused.value)
    # The API refuses to start with them.
    with pytest.raises(ConfigError, match=key):
        ApiSettings.from_env(
            {"DATABASE_URL": "sqlite:///x.db", "JWT_SECRET": "dev", **env(**values)}
        )


def test_an_unreadable_key_is_not_echoed() -> None:
    secret_looking = b64(bytes(range(40)))
    with pytest.raises(ConfigError) as refused:
        PushSettings.from_env(env(NURSERY_VAPID_PRIVATE_KEY=secret_looking))
    assert secret_looking not in str(refused.value)


def test_the_private_key_stays_out_of_repr() -> None:
    settings = PushSettings.from_env(env())
    assert settings is not None
    assert KEYS.private_key not in repr(settings)
    assert SUBJECT in repr(settings)
    api = ApiSettings.from_env({"DATABASE_URL": "sqlite:///x.db", "JWT_SECRET": "dev", **env()})
    assert KEYS.private_key not in repr(api)
    assert KEYS.private_key not in str(api)


def test_http_endpoints_are_refused_in_production() -> None:
    production = {
        "DATABASE_URL": "postgresql://db/x",
        "JWT_SECRET": "test-only-9fQ2vLr7Xa0KpZ3mWc8Ey5NbH1uTs6Gd",
        "NURSERY_ENV": "production",
    }
    assert ApiSettings.from_env({**production, **env()}).push is not None
    with pytest.raises(ConfigError, match="NURSERY_PUSH_ALLOW_HTTP"):
        ApiSettings.from_env({**production, **env(NURSERY_PUSH_ALLOW_HTTP="true")})


def test_the_collectors_settings_do_not_load_the_push_crypto() -> None:
    """cloud/config.py is read by every process; the VAPID checks (cryptography, py-vapid)
    load only when the API's settings are read."""
    probe = (
        "import sys, cloud.config; "
        "print(sorted(m for m in ('py_vapid', 'cryptography', 'cloud.push.settings') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_endpoint_hosts_are_checked_as_endpoints_are() -> None:
    """One rule for host names (cloud/push/endpoints.py): a name that resolvers read as an
    address can never match an endpoint, so listing it is a mistake."""
    for host in ("push.example.org", "127.0.0.1", "::1"):
        settings = PushSettings.from_env(env(NURSERY_PUSH_ENDPOINT_HOSTS=host))
        assert settings is not None
        assert settings.endpoint_hosts == (host,)
    for host in ("127.1", "push.0x7f", "https://push.example.org", "push.example.org:443"):
        with pytest.raises(ConfigError, match="NURSERY_PUSH_ENDPOINT_HOSTS"):
            PushSettings.from_env(env(NURSERY_PUSH_ENDPOINT_HOSTS=host))
