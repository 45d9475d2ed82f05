"""Claim periods decided in pure code (cloud/storage/claim_plan.py), as both backends apply
them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.storage.claim_plan import (
    claim_period_start,
    in_claim_period,
    period_start_after_change,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_a_period_starts_at_the_claim_but_never_before_the_last_release() -> None:
    assert claim_period_start(None, T0) == T0
    assert claim_period_start(T0 - SECOND, T0) == T0
    # a claim time from a clock behind the one that recorded the release
    assert claim_period_start(T0 + SECOND, T0) == T0 + SECOND


def test_data_counts_when_both_recorded_and_received_in_the_period() -> None:
    assert in_claim_period(None, T0 - 1000 * SECOND, T0 - 1000 * SECOND)
    assert in_claim_period(T0, T0, T0)
    # the outbox delivering what the device recorded before the claim
    assert not in_claim_period(T0, T0 - SECOND, T0 + 60 * SECOND)
    # a device clock running ahead, received before the claim
    assert not in_claim_period(T0, T0 + 60 * SECOND, T0 - SECOND)


def test_only_a_device_created_for_its_owner_owns_everything_before() -> None:
    assert period_start_after_change(created=True, new_owner=7, period_start=None, now=T0) is None
    assert period_start_after_change(created=False, new_owner=7, period_start=None, now=T0) == T0
    assert period_start_after_change(created=False, new_owner=None, period_start=None, now=T0) == T0
    released = T0 + SECOND
    handed_on = period_start_after_change(created=False, new_owner=8, period_start=released, now=T0)
    assert handed_on == released
