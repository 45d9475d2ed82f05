"""A fingerprint stays on the device and out of its logs: no repr prints its values, so a
future ``%r`` in a log line or a traceback's locals cannot leak a home's sounds."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.detection.sound_memory import StoredMark
from models.cry.ignore import IgnoredSound, IgnoreMatch
from tests.harness.sounds import MODEL, onset, vector

MARKED_AT = datetime(2026, 12, 7, 3, 14, 58, tzinfo=UTC)


def test_no_repr_shows_a_fingerprint() -> None:
    sound = IgnoredSound(5, MARKED_AT, vector(1))
    for holder in (
        onset(1),
        sound,
        IgnoreMatch(sound, 0.93),
        StoredMark(5, MARKED_AT, MODEL, vector(1)),
    ):
        text = repr(holder)
        assert "fingerprint" not in text, text
        assert "array" not in text, text
    assert "episode_id=5" in repr(sound)  # the rest still helps a reader
