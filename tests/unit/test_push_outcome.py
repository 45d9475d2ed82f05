"""What a push service's answer does to a delivery row (cloud/push/outcome.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.push.outcome import (
    MAX_ATTEMPTS,
    SendOutcome,
    backoff_s,
    decide,
    give_up_reason,
    remaining_ttl_s,
    retry_after_s,
    verdict,
)

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
ALARM_TTL = 900


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "accepted"), (201, "accepted"), (202, "accepted"),
        (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"), (None, "retry"),
        (404, "expired"), (410, "expired"),
        (400, "failed"), (401, "failed"), (403, "failed"), (413, "failed"), (301, "failed"),
    ],
)  # fmt: skip
def test_each_answer_has_its_verdict(status: int | None, expected: str) -> None:
    assert verdict(SendOutcome(status)) == expected


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [backoff_s(attempt) for attempt in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_s("7", NOW) == 7.0
    assert retry_after_s(" 3 ", NOW) == 3.0
    assert retry_after_s("Mon, 07 Dec 2026 03:00:30 GMT", NOW) == 30.0
    assert retry_after_s("Mon, 07 Dec 2026 02:00:00 GMT", NOW) == 0.0, "a date passed: now"
    assert retry_after_s(None, NOW) is None
    assert retry_after_s("soon", NOW) is None
    assert retry_after_s("999999", NOW) == 3600.0


def test_retry_after_with_non_ascii_digits_is_unreadable_not_an_error() -> None:
    # str.isdigit() takes superscripts and other scripts' digits that float() refuses.
    assert retry_after_s("\u00b2", NOW) is None
    # RFC 9110 delay-seconds are ASCII digits only.
    assert retry_after_s("\u0663", NOW) is None


def test_accepted_gone_and_refused_end_the_row() -> None:
    accepted = decide(SendOutcome(201), 1, NOW, NOW, ALARM_TTL)
    assert (accepted.status, accepted.next_attempt_at, accepted.error) == ("accepted", None, None)
    gone = decide(SendOutcome(410), 1, NOW, NOW, ALARM_TTL)
    assert (gone.status, gone.error) == ("expired", "HTTP 410")
    refused = decide(SendOutcome(403), 1, NOW, NOW, ALARM_TTL)
    assert (refused.status, refused.next_attempt_at) == ("failed", None)


def test_a_retry_waits_the_backoff_or_what_the_service_asked() -> None:
    first = decide(SendOutcome(500), 1, NOW, NOW, ALARM_TTL)
    assert (first.status, first.next_attempt_at) == ("retrying", NOW + timedelta(seconds=1))
    third = decide(SendOutcome(None, error="network: ClientOSError"), 3, NOW, NOW, ALARM_TTL)
    assert third.next_attempt_at == NOW + timedelta(seconds=4)
    assert third.error == "network: ClientOSError"
    asked = decide(SendOutcome(429, retry_after_s=20.0), 1, NOW, NOW, ALARM_TTL)
    assert asked.next_attempt_at == NOW + timedelta(seconds=20)


def test_retries_stop_after_six_attempts_or_before_the_ttl_passes() -> None:
    last = decide(SendOutcome(500), MAX_ATTEMPTS, NOW, NOW, ALARM_TTL)
    assert last.status == "failed"
    assert last.error is not None
    assert "6 attempts" in last.error
    assert decide(SendOutcome(500), MAX_ATTEMPTS - 1, NOW, NOW, ALARM_TTL).status == "retrying"
    created = NOW - timedelta(seconds=ALARM_TTL - 5)
    late = decide(SendOutcome(429, retry_after_s=10.0), 2, NOW, created, ALARM_TTL)
    assert late.status == "failed", "the message would be dead before the retry"
    assert late.error is not None
    assert "TTL" in late.error


def test_a_claimed_retry_past_its_limits_is_not_sent() -> None:
    assert give_up_reason(2, NOW, NOW, ALARM_TTL) is None
    assert give_up_reason(MAX_ATTEMPTS, NOW, NOW, ALARM_TTL) is None
    assert give_up_reason(MAX_ATTEMPTS + 1, NOW, NOW, ALARM_TTL) is not None
    old = NOW - timedelta(seconds=ALARM_TTL + 1)
    assert give_up_reason(2, NOW, old, ALARM_TTL) is not None


def test_errors_are_kept_short() -> None:
    decision = decide(SendOutcome(400, error="x" * 1000), 1, NOW, NOW, ALARM_TTL)
    assert decision.error is not None
    assert len(decision.error) == 200


def test_a_request_carries_what_is_left_of_the_messages_ttl() -> None:
    assert remaining_ttl_s(ALARM_TTL, NOW, NOW + timedelta(milliseconds=300)) == ALARM_TTL
    assert remaining_ttl_s(ALARM_TTL, NOW, NOW + timedelta(seconds=61.5)) == ALARM_TTL - 61
    assert remaining_ttl_s(ALARM_TTL, NOW, NOW + timedelta(seconds=ALARM_TTL)) == 0
    assert remaining_ttl_s(ALARM_TTL, NOW, NOW + timedelta(seconds=ALARM_TTL + 5)) < 0
