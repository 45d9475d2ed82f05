"""The pure decisions behind migrating onto TimescaleDB: whether its migration can run, and
which policies a start has to change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.storage.postgres.migrations import ExtensionState, extension_state
from cloud.storage.postgres.timescale import PolicyChanges, TimescalePolicies, plan_policy_changes
from cloud.storage.postgres.timeseries import HourPlan, plan_hours

WEEK = timedelta(days=7)
TWO_YEARS = timedelta(days=730)
BOTH = frozenset({"readings", "events"})


def test_timescaledb_needs_to_be_preloaded_not_just_installed() -> None:
    assert extension_state("timescaledb", True, False, "") is ExtensionState.NOT_PRELOADED
    assert extension_state("timescaledb", True, False, "pg_stat_statements") is (
        ExtensionState.NOT_PRELOADED
    )
    preloaded = "pg_stat_statements, '$libdir/timescaledb'"
    assert extension_state("timescaledb", True, False, preloaded) is ExtensionState.USABLE
    assert extension_state("timescaledb", True, False, "timescaledb") is ExtensionState.USABLE
    assert extension_state("timescaledb", False, False, "timescaledb") is ExtensionState.MISSING
    # Already created in this database: nothing to check.
    assert extension_state("timescaledb", True, True, "") is ExtensionState.USABLE
    assert extension_state("pg_trgm", True, False, "") is ExtensionState.USABLE


def test_unchanged_policies_change_nothing() -> None:
    current = {"readings": WEEK, "events": WEEK}
    retained = {"readings": TWO_YEARS, "events": TWO_YEARS}
    assert plan_policy_changes(TimescalePolicies(), current, retained, BOTH).empty


def test_first_start_enables_compression_and_adds_both_policies() -> None:
    changes = plan_policy_changes(TimescalePolicies(), {}, {}, frozenset())
    assert changes == PolicyChanges(
        enable_compression=("readings", "events"),
        add_compression=(("readings", WEEK), ("events", WEEK)),
        add_retention=(("readings", TWO_YEARS), ("events", TWO_YEARS)),
    )


def test_a_changed_setting_replaces_only_its_policies() -> None:
    wanted = TimescalePolicies(compress_after=timedelta(days=3), retain_for=None)
    retained = {"readings": TWO_YEARS, "events": TWO_YEARS}
    changes = plan_policy_changes(wanted, {"readings": WEEK, "events": WEEK}, retained, BOTH)
    assert changes == PolicyChanges(
        remove_compression=("readings", "events"),
        remove_retention=("readings", "events"),
        add_compression=(("readings", timedelta(days=3)), ("events", timedelta(days=3))),
    )


T = datetime(2026, 12, 6, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def test_part_hours_at_the_ends_are_read_raw() -> None:
    plan = plan_hours(T + 10 * M, T + 5 * H + 20 * M, [])
    assert plan == HourPlan(
        aggregate=((T + H, T + 5 * H),), raw=((T + 10 * M, T + H), (T + 5 * H, T + 5 * H + 20 * M))
    )


def test_hours_written_since_the_refresh_are_read_raw() -> None:
    stale = [(T + 2 * H + 5 * M, T + 2 * H + 7 * M), (T + 3 * H + 59 * M, T + 4 * H)]
    plan = plan_hours(T, T + 6 * H, stale)
    # 2:05-2:07 touches hour 2; 3:59-4:00 touches hours 3 and 4: one raw window 2:00-5:00.
    assert plan == HourPlan(
        aggregate=((T, T + 2 * H), (T + 5 * H, T + 6 * H)), raw=((T + 2 * H, T + 5 * H),)
    )


def test_a_range_without_a_whole_hour_is_all_raw() -> None:
    assert plan_hours(T + 10 * M, T + 50 * M, []) == HourPlan((), ((T + 10 * M, T + 50 * M),))
    assert plan_hours(T, T + H, [(T - H, T + 2 * H)]) == HourPlan((), ((T, T + H),))
