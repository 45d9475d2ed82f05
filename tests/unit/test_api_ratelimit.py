"""The login limiter: attempts are counted before the password is checked, so concurrent
guesses cannot all slip through; a success is forgiven."""

from __future__ import annotations

import pytest

from cloud.api.ratelimit import LoginRateLimiter, RateLimitedError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_attempts_are_counted_before_any_result() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(3, window_s=60, clock=clock)
    for _ in range(3):  # three requests in flight, none finished yet
        limiter.attempt("address:a", "account:x")
    with pytest.raises(RateLimitedError) as limited:
        limiter.attempt("address:b", "account:x")
    assert limited.value.retry_after_s == 60
    clock.now += 61
    limiter.attempt("address:b", "account:x")  # the window has passed


def test_a_success_forgives_the_account_and_its_own_address_mark() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(2, window_s=60, clock=clock)
    limiter.attempt("address:shared", "account:x")  # someone else's failure from the same NAT
    limiter.attempt("address:shared", "account:y")
    with pytest.raises(RateLimitedError):
        limiter.attempt("address:shared", "account:z")
    limiter.forgive("account:y", "address:shared")
    limiter.attempt("address:shared", "account:z")  # one mark was forgiven, one remains
    with pytest.raises(RateLimitedError):
        limiter.attempt("address:shared", "account:w")
