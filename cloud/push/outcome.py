"""What a push service's answer means for a delivery row (pure: no I/O, no clock of its own).

- 200/201/202: the push service took the message -> ``accepted``.
- 429, 5xx, no answer (network error, timeout): try again later -> ``retrying``, after the
  Retry-After the service gave, else 1, 2, 4, 8 ... s (at most ``MAX_BACKOFF_S``), for at most
  ``MAX_ATTEMPTS`` attempts and never once the message's TTL has passed; then ``failed``.
- 404/410: the subscription is gone (the user unsubscribed, the browser dropped it) ->
  ``expired``; the caller deletes the subscription.
- any other answer (400, 401, 403, 413, ...): the request itself is wrong, and the same request
  fails the same way again -> ``failed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

from cloud.storage.push_records import PushStatus

MAX_ATTEMPTS = 6
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
# A Retry-After longer than this is not waited for within one message's life anyway.
MAX_RETRY_AFTER_S = 3600.0
ACCEPTED = frozenset({200, 201, 202})
GONE = frozenset({404, 410})
MAX_ERROR_LENGTH = 200
TTL_PASSED = "its TTL passed before it could be sent"

Verdict = Literal["accepted", "retry", "expired", "failed"]


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """How one push request went: the HTTP status (None when there was no answer: a network
    error or a timeout), the Retry-After in seconds when given, and a short error text."""

    status: int | None
    retry_after_s: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to store on the row after an attempt."""

    status: PushStatus
    next_attempt_at: datetime | None
    error: str | None


def verdict(outcome: SendOutcome) -> Verdict:
    if outcome.status is None or outcome.status == 429 or outcome.status >= 500:
        return "retry"
    if outcome.status in ACCEPTED:
        return "accepted"
    if outcome.status in GONE:
        return "expired"
    return "failed"


def backoff_s(attempt: int) -> float:
    """The pause after failed attempt ``attempt`` (1-based): 1, 2, 4, 8 ... s, capped."""
    return float(min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** max(0, attempt - 1)))


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date (RFC 9110
    10.2.3); None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    # ASCII only: str.isdigit() also takes "\u00b2", which float() refuses.
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_S)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return min(max(0.0, (moment - now).total_seconds()), MAX_RETRY_AFTER_S)


def _error(outcome: SendOutcome) -> str | None:
    text = outcome.error
    if text is None and outcome.status is not None and outcome.status not in ACCEPTED:
        text = f"HTTP {outcome.status}"
    return None if text is None else text[:MAX_ERROR_LENGTH]


def decide(
    outcome: SendOutcome, attempt: int, now: datetime, created_at: datetime, ttl_s: int
) -> Decision:
    """The row's next state after attempt number ``attempt`` of a message created (taken by the
    pipeline) at ``created_at`` and kept by push services for ``ttl_s`` seconds."""
    kind = verdict(outcome)
    error = _error(outcome)
    if kind == "accepted":
        return Decision("accepted", None, None)
    if kind == "expired":
        return Decision("expired", None, error)
    if kind == "failed":
        return Decision("failed", None, error)
    wait = outcome.retry_after_s
    if wait is None:
        wait = backoff_s(attempt)
    next_attempt = now + timedelta(seconds=wait)
    if attempt >= MAX_ATTEMPTS:
        return Decision("failed", None, f"{error or 'no answer'}; gave up after {attempt} attempts")
    if next_attempt > created_at + timedelta(seconds=ttl_s):
        return Decision("failed", None, f"{error or 'no answer'}; its TTL would pass first")
    return Decision("retrying", next_attempt, error)


def give_up_reason(attempt: int, now: datetime, created_at: datetime, ttl_s: int) -> str | None:
    """Why a claimed retry must not be sent at all (its earlier sender died and time went on):
    too many attempts, or its TTL passed; None when it may be sent."""
    if attempt > MAX_ATTEMPTS:
        return f"gave up after {attempt - 1} attempts"
    if now > created_at + timedelta(seconds=ttl_s):
        return TTL_PASSED
    return None


def remaining_ttl_s(ttl_s: int, created_at: datetime, now: datetime) -> int:
    """The TTL a request made at ``now`` carries: what is left of the message's ``ttl_s`` since
    the pipeline took it (a retry must not extend its life), in whole seconds; 0 or less when
    it has passed."""
    return ttl_s - math.floor((now - created_at).total_seconds())
