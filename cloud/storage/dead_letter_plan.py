"""What a dead letter keeps, and how long: pure decisions both storage backends apply.

Dead letters exist so that bad input loses nothing an operator needs to see why it was
refused. They must not become the way to fill the database: a 20 MB payload was kept whole,
and nothing ever deleted a dead letter. A message is now kept verbatim up to the largest
payload the contract accepts (so a refused but well-formed message can still be replayed);
of a larger one the first bytes, with the size and SHA-256 of the whole. Retention deletes
dead letters older than an age and beyond a count (docs/operations.md, "Dead letters").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud.storage.records import DeadLetter
from models.contract import MAX_PAYLOAD_BYTES

MAX_STORED_PAYLOAD_BYTES = MAX_PAYLOAD_BYTES
# Reasons and topics are ours or the broker's, but a reason may quote a device's input.
MAX_ERROR_CHARS = 1000
MAX_TOPIC_CHARS = 300


def capped(letter: DeadLetter) -> DeadLetter:
    """``letter`` as stored: payload, topic and reason bounded, the original size and digest
    recorded. Idempotent: a letter already capped (its size is set) is returned as it is."""
    if letter.size is not None:
        return letter
    payload = letter.payload
    return DeadLetter(
        topic=_storable(letter.topic, MAX_TOPIC_CHARS),
        payload=payload[:MAX_STORED_PAYLOAD_BYTES],
        error=_storable(letter.error, MAX_ERROR_CHARS),
        received_at=letter.received_at,
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
    )


def _storable(text: str, limit: int) -> str:
    # A text column holds neither NUL nor an unpaired surrogate: both would fail the batch.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class DeadLetterRetention:
    """Dead letters older than ``max_age`` go, and so do all but the newest ``max_rows``."""

    max_age: timedelta = timedelta(days=30)
    max_rows: int = 100_000

    def cutoff(self, now: datetime) -> datetime:
        """Dead letters received before this are deleted."""
        return now - self.max_age
