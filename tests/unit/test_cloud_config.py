"""Cloud settings: defaults, and errors that name the offending key."""

from __future__ import annotations

import secrets

import pytest

from cloud.config import ApiSettings, CollectorSettings, ConfigError

GOOD_SECRET = "test-only-9fQ2vLr7Xa0KpZ3mWc8Ey5NbH1uTs6Gd"


def test_api_settings_defaults_follow_the_app_documentation() -> None:
    settings = ApiSettings.from_env({"DATABASE_URL": "postgresql://db/x", "JWT_SECRET": "dev"})
    assert settings.jwt_algorithm == "HS256"
    assert settings.access_token_expire_minutes == 30
    assert settings.environment == "development"


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"JWT_SECRET": GOOD_SECRET}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://db/x"}, "JWT_SECRET"),
        (
            {
                "DATABASE_URL": "postgresql://db/x",
                "JWT_SECRET": GOOD_SECRET,
                "ACCESS_TOKEN_EXPIRE_MINUTES": "soon",
            },
            "ACCESS_TOKEN_EXPIRE_MINUTES",
        ),
        (
            {
                "DATABASE_URL": "postgresql://db/x",
                "JWT_SECRET": GOOD_SECRET,
                "ACCESS_TOKEN_EXPIRE_MINUTES": "0",
            },
            "ACCESS_TOKEN_EXPIRE_MINUTES",
        ),
        (
            {
                "DATABASE_URL": "postgresql://db/x",
                "JWT_SECRET": GOOD_SECRET,
                "JWT_ALGORITHM": "none",
            },
            "JWT_ALGORITHM",
        ),
        (
            {
                "DATABASE_URL": "postgresql://db/x",
                "JWT_SECRET": GOOD_SECRET,
                "NURSERY_ENV": "staging",
            },
            "NURSERY_ENV",
        ),
    ],
)
def test_invalid_api_settings_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        ApiSettings.from_env(env)


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("supersecretkey", "example"),
        ("short-but-not-example", "shorter than 32"),
        ("a" * 32, "guessable"),
        ("supersecretkey" + "x" * 32, "example"),  # a padded example
        ("your-super-secret-key-change-this-in-production" * 2, "example"),
        ("abcdefghijklmnop" * 4, "guessable"),  # repetition adds length, not strength
        ("Password1!" * 4, "guessable"),
    ],
)
def test_production_refuses_weak_secrets_naming_the_key_and_the_fix(
    secret: str, reason: str
) -> None:
    env = {"DATABASE_URL": "postgresql://db/x", "JWT_SECRET": secret, "NURSERY_ENV": "production"}
    with pytest.raises(ConfigError, match="JWT_SECRET") as refused:
        ApiSettings.from_env(env)
    assert reason in str(refused.value)
    assert "secrets.token_urlsafe(48)" in str(refused.value)
    assert secret not in str(refused.value)  # the secret itself is never echoed
    assert ApiSettings.from_env({**env, "NURSERY_ENV": "development"}).jwt_secret == secret


def test_production_accepts_generated_secrets() -> None:
    for secret in (secrets.token_urlsafe(48), secrets.token_hex(32), secrets.token_urlsafe(32)):
        env = {"DATABASE_URL": "postgresql://db/x", "JWT_SECRET": secret}
        assert ApiSettings.from_env({**env, "NURSERY_ENV": "production"}).jwt_secret == secret


@pytest.mark.parametrize("secret", ["supersecretkey", "short-but-not-example"])
def test_production_refuses_example_or_short_secrets(secret: str) -> None:
    env = {"DATABASE_URL": "postgresql://db/x", "JWT_SECRET": secret, "NURSERY_ENV": "production"}
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        ApiSettings.from_env(env)
    assert ApiSettings.from_env({**env, "JWT_SECRET": GOOD_SECRET}).environment == "production"


def test_secrets_do_not_appear_in_repr() -> None:
    settings = ApiSettings.from_env(
        {"DATABASE_URL": "postgresql://u:pw@db/x", "JWT_SECRET": GOOD_SECRET}
    )
    assert GOOD_SECRET not in repr(settings)
    assert "pw@" not in repr(settings)


def test_collector_settings() -> None:
    settings = CollectorSettings.from_env(
        {"DATABASE_URL": "postgresql://db/x", "MQTT_PORT": "1884", "MQTT_PASSWORD": "pw"}
    )
    assert settings.mqtt.port == 1884
    assert "pw" not in repr(settings)
    with pytest.raises(ConfigError, match="MQTT_PORT"):
        CollectorSettings.from_env({"DATABASE_URL": "postgresql://db/x", "MQTT_PORT": "99999"})


def test_collector_commits_two_batches_at_once_unless_told_otherwise() -> None:
    base = {"DATABASE_URL": "postgresql://db/x"}
    assert CollectorSettings.from_env(base).concurrent_batches == 2
    one = CollectorSettings.from_env({**base, "NURSERY_COLLECTOR_CONCURRENT_BATCHES": "1"})
    assert one.concurrent_batches == 1
    with pytest.raises(ConfigError, match="NURSERY_COLLECTOR_CONCURRENT_BATCHES"):
        CollectorSettings.from_env({**base, "NURSERY_COLLECTOR_CONCURRENT_BATCHES": "0"})
