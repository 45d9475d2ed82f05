"""Cloud settings: defaults, and errors that name the offending key."""

from __future__ import annotations

import pytest

from cloud.config import ApiSettings, CollectorSettings, ConfigError

GOOD_SECRET = "x" * 48


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
