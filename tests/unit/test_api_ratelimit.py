"""The login limiter: attempts are counted before the password is checked, so concurrent
guesses cannot all slip through; a success is forgiven."""

from __future__ import annotations

import pytest

from cloud.api.ratelimit import LoginRateLimiter, LoginThrottle, RateLimitedError, source_key


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


# --- the login policy (issue 27, finding 11): per source with backoff, per account paced ---


def test_a_source_that_keeps_failing_waits_twice_as_long_each_time() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, window_s=60, max_block_s=600, clock=clock)
    blocks = []
    for round_number in range(5):
        for attempt in range(3):
            throttle.attempt("203.0.113.7", f"account-{round_number}-{attempt}")
        with pytest.raises(RateLimitedError) as limited:
            throttle.attempt("203.0.113.7", "another")
        blocks.append(limited.value.retry_after_s)
        clock.now += limited.value.retry_after_s
    assert blocks == [60, 120, 240, 480, 600]


def test_a_success_clears_the_backoff() -> None:
    clock = Clock()
    throttle = LoginThrottle(2, window_s=60, clock=clock)
    for _ in range(2):
        throttle.attempt("192.0.2.1", "a")
    with pytest.raises(RateLimitedError):
        throttle.attempt("192.0.2.1", "a")
    clock.now += 60
    throttle.attempt("192.0.2.1", "b")
    throttle.succeeded("192.0.2.1", "b")
    throttle.attempt("192.0.2.1", "c")  # the backoff is gone, and the budget is back


def test_an_attacked_account_is_paced_never_locked() -> None:
    clock = Clock()
    throttle = LoginThrottle(10, window_s=60, clock=clock)
    for _ in range(10):
        throttle.attempt("203.0.113.7", "victim")
    with pytest.raises(RateLimitedError):
        throttle.attempt("203.0.113.7", "victim")  # the attacker's address is refused ...
    throttle.attempt("198.51.100.20", "victim")  # ... the owner's first attempt gets through
    # Many addresses guessing at once: each paced slot lets one attempt through, and nobody is
    # told to wait longer than the pace.
    waits = []
    for n in range(30):
        try:
            throttle.attempt(f"10.0.{n}.1", "victim")
        except RateLimitedError as exc:
            waits.append(exc.retry_after_s)
        clock.now += 1
    assert waits
    assert max(waits) <= throttle.account_pace_s == 6
    assert 30 - len(waits) == 4  # after the owner's slot, one attempt per 6 s over 30 s


def test_memory_stays_bounded_under_a_spray_of_addresses() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, window_s=60, max_block_s=120, clock=clock, max_keys=100)
    for n in range(1000):
        throttle.attempt(f"10.{n // 250}.{n % 250}.1", f"account-{n}")
        clock.now += 1
    assert len(throttle._sources) + len(throttle._accounts) <= 400


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),  # the same subscriber's other address
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
    ],
)
def test_an_ipv6_subscriber_is_one_source(host: str, key: str) -> None:
    assert source_key(host) == key
