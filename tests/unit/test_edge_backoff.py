"""Reconnect backoff: grows, is capped, is jittered, resets."""

from __future__ import annotations

import random

import pytest

from edge.publish.backoff import Backoff, BackoffPolicy


def test_delays_double_up_to_the_cap_within_the_jitter_band() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=1.0, max_s=8.0, jitter=0.5), random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling * 0.5 <= delay <= ceiling


def test_jitter_spreads_devices_apart() -> None:
    policy = BackoffPolicy(initial_s=10.0, max_s=10.0, jitter=0.5)
    first = {round(Backoff(policy, random.Random(seed)).next_delay(), 3) for seed in range(20)}
    assert len(first) > 10


def test_reset_starts_over_and_huge_attempt_counts_stay_capped() -> None:
    backoff = Backoff(BackoffPolicy(initial_s=1.0, max_s=60.0, jitter=0.0))
    for _ in range(5000):
        backoff.next_delay()
    assert backoff.next_delay() == 60.0
    backoff.reset()
    assert backoff.next_delay() == 1.0


@pytest.mark.parametrize(
    "kwargs", [{"initial_s": 0.0}, {"initial_s": 5.0, "max_s": 1.0}, {"jitter": 1.5}]
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"need|must"):
        BackoffPolicy(**kwargs)
