"""Parsing the time-series ``interval`` parameter ("1 hour", "6 hours", "1 day", "1 week")."""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
ALIASES = {"min": "minute", "mins": "minute", "h": "hour", "d": "day", "w": "week"}
PATTERN = re.compile(r"^\s*(\d{1,4})?\s*([a-z]+?)s?\s*$")
MIN_BUCKET = timedelta(minutes=1)
MAX_BUCKET = timedelta(days=366)


class IntervalError(ValueError):
    pass


def parse_interval(text: str) -> timedelta:
    """``"6 hours"`` -> 6 h. Accepts a count (default 1) and minute/hour/day/week, singular or
    plural, or the short forms min/h/d/w."""
    match = PATTERN.match(text.lower())
    unit = ALIASES.get(match.group(2), match.group(2)) if match else None
    if match is None or unit not in UNITS:
        raise IntervalError(
            f"invalid interval {text!r}: use a count and a unit, e.g. '15 minutes', '1 hour', "
            "'6 hours', '1 day', '1 week'"
        )
    bucket = int(match.group(1) or 1) * UNITS[unit]
    if not MIN_BUCKET <= bucket <= MAX_BUCKET:
        raise IntervalError(f"interval must be between 1 minute and 366 days, got {text!r}")
    return bucket
