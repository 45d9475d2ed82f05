"""The collector's time-window and dead-letter retention settings (docs/protocol.md,
docs/operations.md): read from the environment, bounded, named in errors."""

from __future__ import annotations

import pytest

from cloud.config import CollectorSettings, ConfigError


def test_the_window_and_retention_settings_are_read_and_bounded() -> None:
    base = {"DATABASE_URL": "postgresql://db/x"}
    defaults = CollectorSettings.from_env(base)
    assert (defaults.max_clock_ahead_s, defaults.dead_letter_retention_days) == (300, 30)
    assert defaults.dead_letter_max_rows == 100_000
    settings = CollectorSettings.from_env(
        {**base, "NURSERY_COLLECTOR_MAX_CLOCK_AHEAD_S": "60",
         "NURSERY_DEAD_LETTER_RETENTION_DAYS": "7", "NURSERY_DEAD_LETTER_MAX_ROWS": "5000"}
    )  # fmt: skip
    assert (settings.max_clock_ahead_s, settings.dead_letter_retention_days) == (60, 7)
    assert settings.dead_letter_max_rows == 5000
    for key, value in (("NURSERY_COLLECTOR_MAX_CLOCK_AHEAD_S", "90000"),
                       ("NURSERY_DEAD_LETTER_RETENTION_DAYS", "0"),
                       ("NURSERY_DEAD_LETTER_MAX_ROWS", "ten")):  # fmt: skip
        with pytest.raises(ConfigError, match=key):
            CollectorSettings.from_env({**base, key: value})
