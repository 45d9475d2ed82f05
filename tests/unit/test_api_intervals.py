from __future__ import annotations

from datetime import timedelta

import pytest

from cloud.api.intervals import IntervalError, parse_interval


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 hour", timedelta(hours=1)),
        ("6 hours", timedelta(hours=6)),
        ("1 day", timedelta(days=1)),
        ("1 week", timedelta(weeks=1)),
        ("15 minutes", timedelta(minutes=15)),
        ("hour", timedelta(hours=1)),
        ("2h", timedelta(hours=2)),
        (" 3 Days ", timedelta(days=3)),
    ],
)
def test_documented_and_common_intervals_parse(text: str, expected: timedelta) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    "text", ["", "1 fortnight", "-1 hour", "1.5 hours", "0 hours", "9999 weeks"]
)
def test_nonsense_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(IntervalError, match="interval"):
        parse_interval(text)
