"""Devices claimed with a code and shared with caregivers, per-user alerts, cry episodes and
refresh-token rotation, run against every backend.

Whoever is a member of a device (its owner or a caregiver) sees all of it; everyone else sees
nothing of it, and is told so exactly as if it did not exist.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from cloud.storage import (
    AccessDeniedError,
    ClaimCodeInUseError,
    NotFoundError,
    Storage,
)
from cloud.storage.postgres.migrations import apply_migrations as apply_postgres_migrations
from cloud.storage.postgres.migrations import bundled_migrations
from cloud.storage.records import (
    AlertQuery,
    AlertView,
    Caregiver,
    CryEpisode,
    DeviceSummary,
    EventRow,
    HealthStats,
    HistoryQuery,
    IgnoreListState,
    IngestBatch,
    MemberRole,
    StoredAlert,
    TelemetryRow,
    TimeBucket,
    UploadRow,
    User,
)
from cloud.storage.sqlite.database import to_db_time
from cloud.storage.sqlite.migrations import apply_migrations as apply_sqlite_migrations
from tests.harness.postgres import fresh_database

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_user(storage: Storage, name: str | None = None) -> User:
    return await storage.create_user(f"{unique('parent')}@example.com", "hash", name)


async def claimed_device(
    storage: Storage, owner: User, name: str | None = None, now: datetime = T0
) -> str:
    device_id, code_hash = unique("dev"), unique("code")
    await storage.set_claim_code(device_id, code_hash, now + DAY)
    assert await storage.claim_device(owner.id, code_hash, now, name) is not None
    return device_id


async def family(storage: Storage) -> tuple[User, User, User, str]:
    """An owner, a caregiver they share their device with, and a stranger."""
    owner, caregiver = await new_user(storage, "Owner"), await new_user(storage, "Carer")
    stranger = await new_user(storage)
    device_id = await claimed_device(storage, owner, "Nursery")
    await storage.add_caregiver(owner.id, device_id, caregiver.email)
    return owner, caregiver, stranger, device_id


def summary(
    device_id: str,
    name: str | None,
    role: MemberRole = "owner",
    claimed_at: datetime = T0,
    device_settings_revision: int = 0,
) -> DeviceSummary:
    """A device as a member sees it before it has sent anything or been configured (nothing
    marked "not a cry" either)."""
    return DeviceSummary(
        device_id, name, role, False, None, None, None, claimed_at, {}, {},
        device_settings_revision, ignore_list=IgnoreListState(device_id, 0, []),
    )  # fmt: skip


def reading(
    device_id: str, seq: int, time: datetime, temperature: float, humidity: float
) -> TelemetryRow:
    received = datetime.now(UTC) - HOUR  # received a while ago (before any unclaim below)
    return TelemetryRow(device_id, seq, time, received, temperature, humidity, -60.0, -40.0)


def event(
    device_id: str,
    seq: int,
    time: datetime,
    kind: str = "cry_started",
    *,
    episode_id: int | None = None,
    confidence: float = 0.75,
    sound_dbfs: float | None = -30.0,
    duration_s: float | None = None,
    end_reason: str | None = None,
) -> EventRow:
    received = datetime.now(UTC) - HOUR
    return EventRow(
        device_id, seq, time, received, kind, seq if episode_id is None else episode_id,
        confidence, sound_dbfs, duration_s, end_reason=end_reason,
    )  # fmt: skip


def upload(user: User, time: datetime, temperature: float, humidity: float, cry: bool) -> UploadRow:
    return UploadRow(user.id, time, temperature, humidity, None, None, cry, False, 0.5)


def view(alert: StoredAlert, read: bool = False) -> AlertView:
    return AlertView(
        alert.id, alert.device_id, alert.user_id, alert.kind, alert.time, alert.created_at,
        alert.message, alert.sick_detected, alert.details, read, alert.received_at,
        alert.needs_ack, alert.acknowledged_at, alert.acknowledged_by, alert.escalation_level,
    )  # fmt: skip


# --- claiming -------------------------------------------------------------------------------


async def test_claim_needs_the_right_unexpired_unused_code(storage: Storage) -> None:
    owner, other = await new_user(storage), await new_user(storage, "Other")
    device_id, code_hash = unique("dev"), unique("code")
    await storage.set_claim_code(device_id, code_hash, T0 + HOUR)
    assert await storage.get_device_state(device_id) is not None  # registered, unowned
    assert await storage.claim_device(owner.id, unique("wrong"), T0, "Nursery") is None
    # expired: the code works strictly before expires_at
    assert await storage.claim_device(owner.id, code_hash, T0 + HOUR, "Nursery") is None
    claimed = await storage.claim_device(owner.id, code_hash, T0 + HOUR - TICK, "Nursery")
    assert claimed == summary(device_id, "Nursery", claimed_at=T0 + HOUR - TICK)
    # used: the code is gone, for the claimer and anyone else
    assert await storage.claim_device(other.id, code_hash, T0, None) is None
    assert await storage.claim_device(owner.id, code_hash, T0, None) is None
    state = await storage.get_device_state(device_id)
    assert state is not None
    assert (state.owner_id, state.name) == (owner.id, "Nursery")
    assert await storage.list_caregivers(owner.id, device_id) == [
        Caregiver(owner.id, owner.email, None, "owner", T0 + HOUR - TICK)
    ]
    assert await storage.list_devices(other.id) == []


async def test_a_new_code_replaces_the_old_and_an_owned_device_is_not_claimable(
    storage: Storage,
) -> None:
    owner, other = await new_user(storage), await new_user(storage)
    device_id, first, second = unique("dev"), unique("code"), unique("code")
    await storage.set_claim_code(device_id, first, T0 + DAY)
    await storage.set_claim_code(device_id, second, T0 + DAY)
    assert await storage.claim_device(owner.id, first, T0, None) is None
    assert await storage.claim_device(owner.id, second, T0, None) is not None
    # A code minted for an owned device does not let anyone else take it.
    third = unique("code")
    await storage.set_claim_code(device_id, third, T0 + DAY)
    assert await storage.claim_device(other.id, third, T0, None) is None
    registered, fourth = unique("dev"), unique("code")
    await storage.register_device(registered, owner.id)
    await storage.set_claim_code(registered, fourth, T0 + DAY)
    assert await storage.claim_device(other.id, fourth, T0, None) is None
    assert await storage.list_devices(other.id) == []
    assert [d.device_id for d in await storage.list_devices(owner.id)] == sorted(
        [device_id, registered]
    )


async def test_two_devices_cannot_wait_for_the_same_code(storage: Storage) -> None:
    code_hash, first, second = unique("code"), unique("dev"), unique("dev")
    await storage.set_claim_code(first, code_hash, datetime.now(UTC) + DAY)
    with pytest.raises(ClaimCodeInUseError):
        await storage.set_claim_code(second, code_hash, datetime.now(UTC) + DAY)
    # once the first code has expired its hash is free again
    await storage.set_claim_code(first, code_hash, datetime.now(UTC) - SECOND)
    await storage.set_claim_code(second, code_hash, datetime.now(UTC) + DAY)
    owner = await new_user(storage)
    claimed = await storage.claim_device(owner.id, code_hash, datetime.now(UTC), None)
    assert claimed is not None
    assert claimed.device_id == second


# --- seeing and changing devices ------------------------------------------------------------


async def test_devices_are_listed_to_their_members_only(storage: Storage) -> None:
    owner, caregiver, stranger = (
        await new_user(storage),
        await new_user(storage),
        await new_user(storage),
    )
    b = await claimed_device(storage, owner, "b nursery")
    unnamed = await claimed_device(storage, owner, None)
    attic = await claimed_device(storage, owner, "Attic")
    await storage.add_caregiver(owner.id, b, caregiver.email)
    # by name case-insensitively; an unnamed device by its id ("dev-...")
    assert await storage.list_devices(owner.id) == [
        summary(attic, "Attic"), summary(b, "b nursery"), summary(unnamed, None),
    ]  # fmt: skip
    assert await storage.list_devices(caregiver.id) == [summary(b, "b nursery", "caregiver")]
    assert await storage.get_device(caregiver.id, b) == summary(b, "b nursery", "caregiver")
    assert await storage.get_device(caregiver.id, attic) is None
    assert await storage.list_devices(stranger.id) == []
    assert await storage.get_device(stranger.id, b) is None
    assert await storage.get_device(owner.id, unique("missing")) is None


async def test_only_the_owner_renames(storage: Storage) -> None:
    owner, caregiver, stranger, device_id = await family(storage)
    renamed = await storage.rename_device(owner.id, device_id, "Baby room")
    assert renamed == summary(device_id, "Baby room")
    with pytest.raises(AccessDeniedError):
        await storage.rename_device(caregiver.id, device_id, "Mine now")
    for user_id, target in ((stranger.id, device_id), (owner.id, unique("missing"))):
        with pytest.raises(NotFoundError) as caught:
            await storage.rename_device(user_id, target, "Mine now")
        assert caught.value.subject == "device"
    assert await storage.get_device(caregiver.id, device_id) == summary(
        device_id, "Baby room", "caregiver"
    )


async def test_settings_are_replaced_by_the_owner_and_device_changes_raise_the_revision(
    storage: Storage,
) -> None:
    owner, caregiver, stranger, device_id = await family(storage)
    nursery: dict[str, object] = {"temperature_max_c": 24.0, "climate_grace_s": 60.0}
    first = await storage.update_device_settings(owner.id, device_id, nursery=nursery, device=None)
    assert (first.nursery_settings, first.device_settings, first.device_settings_revision) == (
        nursery, {}, 0,
    )  # fmt: skip
    second = await storage.update_device_settings(
        owner.id,
        device_id,
        nursery=None,
        device={"cry_sensitivity": 0.7, "telemetry_interval_s": 30.0},
    )
    assert (second.nursery_settings, second.device_settings, second.device_settings_revision) == (
        nursery, {"cry_sensitivity": 0.7, "telemetry_interval_s": 30.0}, 1,
    )  # fmt: skip
    # replaced, not merged
    third = await storage.update_device_settings(
        owner.id, device_id, nursery={"offline_grace_s": 30.0}, device={"cry_sensitivity": 0.4}
    )
    assert (third.nursery_settings, third.device_settings, third.device_settings_revision) == (
        {"offline_grace_s": 30.0}, {"cry_sensitivity": 0.4}, 2,
    )  # fmt: skip
    unchanged = await storage.update_device_settings(owner.id, device_id, nursery=None, device=None)
    assert unchanged == third
    with pytest.raises(AccessDeniedError):
        await storage.update_device_settings(caregiver.id, device_id, nursery={}, device={})
    with pytest.raises(NotFoundError):
        await storage.update_device_settings(stranger.id, device_id, nursery={}, device={})
    assert await storage.get_device(caregiver.id, device_id) == replace(third, role="caregiver")
    # The nursery settings are the alert rules' settings (the column the collector reads).
    await storage.set_device_settings(device_id, {"climate_grace_s": 5.0})
    seen = await storage.get_device(owner.id, device_id)
    assert seen is not None
    assert (seen.nursery_settings, seen.device_settings_revision) == ({"climate_grace_s": 5.0}, 2)


async def test_nursery_settings_drive_the_collectors_rules(storage: Storage) -> None:
    owner, _caregiver, _stranger, device_id = await family(storage)
    await storage.update_device_settings(
        owner.id,
        device_id,
        nursery={"temperature_max_c": 26.0, "climate_grace_s": 0.0},
        device=None,
    )
    calm = await storage.ingest(IngestBatch(readings=[reading(device_id, 0, T0, 25.0, 45.0)]))
    assert calm.alerts == []
    hot = await storage.ingest(
        IngestBatch(readings=[reading(device_id, 1, T0 + SECOND, 27.0, 45.0)])
    )
    assert [alert.kind for alert in hot.alerts] == ["CLIMATE_OUT_OF_RANGE"]


async def test_unclaim_hides_the_history_from_everyone_for_good(storage: Storage) -> None:
    owner, caregiver, stranger, device_id = await family(storage)
    await storage.update_device_settings(owner.id, device_id, nursery={"offline_grace_s": 30.0},
                                         device={"cry_sensitivity": 0.7})  # fmt: skip
    result = await storage.ingest(IngestBatch(
        readings=[reading(device_id, 0, T0, 20.0, 40.0)], events=[event(device_id, 1, T0)],
    ))  # fmt: skip
    assert len(result.alerts) == 1
    assert len(await storage.list_health_records(caregiver.id, HistoryQuery())) == 1
    with pytest.raises(AccessDeniedError):
        await storage.unclaim_device(caregiver.id, device_id)
    with pytest.raises(NotFoundError):
        await storage.unclaim_device(stranger.id, device_id)

    await storage.unclaim_device(owner.id, device_id)
    for user in (owner, caregiver):
        assert await storage.list_devices(user.id) == []
        assert await storage.get_device(user.id, device_id) is None
        assert await storage.list_health_records(user.id, HistoryQuery()) == []
        assert await storage.list_user_alerts(user.id, AlertQuery()) == []
        with pytest.raises(NotFoundError):
            await storage.list_caregivers(user.id, device_id)
    state = await storage.get_device_state(device_id)
    assert state is not None
    assert (state.owner_id, state.name) == (None, None)
    assert await storage.alert_recipients(result.alerts[0]) == []

    # Claimed again (say, sold on): the new family starts from a blank page.
    code_hash = unique("code")
    claimed_at = datetime.now(UTC)
    await storage.set_claim_code(device_id, code_hash, claimed_at + DAY)
    claimed = await storage.claim_device(stranger.id, code_hash, claimed_at, "Second home")
    # the revision keeps rising: the device is told "defaults" with a revision it never saw;
    # presence (when the device was last heard from) is the device's, not the family's
    assert claimed is not None
    assert claimed.last_seen is not None
    assert replace(claimed, last_seen=None) == summary(
        device_id, "Second home", claimed_at=claimed_at, device_settings_revision=2
    )
    assert await storage.list_health_records(stranger.id, HistoryQuery()) == []
    assert await storage.health_stats(stranger.id) == HealthStats(0, 0, 0, None, None, None)
    assert await storage.health_timeseries(stranger.id, HOUR, T0 - DAY, T0 + DAY) == []
    assert await storage.list_user_alerts(stranger.id, AlertQuery()) == []
    assert await storage.list_cry_episodes(stranger.id, device_id, None, None, 10) == []
    # what the device records from now on is theirs
    now = datetime.now(UTC)
    fresh = TelemetryRow(device_id, 2, now, now, 21.0, 41.0, None, None)
    await storage.ingest(IngestBatch(readings=[fresh]))
    history = await storage.list_health_records(stranger.id, HistoryQuery())
    assert [(r.user_id, r.device_id, r.temperature, r.created_at) for r in history] == [
        (stranger.id, device_id, 21.0, now)
    ]
    assert await storage.list_health_records(owner.id, HistoryQuery()) == []


# --- caregivers -----------------------------------------------------------------------------


async def test_the_owner_shares_by_email_idempotently(storage: Storage) -> None:
    owner = await new_user(storage, "Owner")
    caregiver, second = await new_user(storage, "Carer"), await new_user(storage)
    stranger = await new_user(storage)
    device_id = await claimed_device(storage, owner, "Nursery")
    added = await storage.add_caregiver(owner.id, device_id, caregiver.email.upper())
    assert (added.user_id, added.email, added.name, added.role) == (
        caregiver.id, caregiver.email, "Carer", "caregiver",
    )  # fmt: skip
    assert await storage.add_caregiver(owner.id, device_id, caregiver.email) == added
    assert await storage.add_caregiver(owner.id, device_id, owner.email) == Caregiver(
        owner.id, owner.email, "Owner", "owner", T0
    )
    added_second = await storage.add_caregiver(owner.id, device_id, second.email)
    with pytest.raises(NotFoundError) as caught:
        await storage.add_caregiver(owner.id, device_id, "nobody-" + unique("x") + "@example.com")
    assert caught.value.subject == "user"
    with pytest.raises(AccessDeniedError):
        await storage.add_caregiver(caregiver.id, device_id, stranger.email)
    with pytest.raises(NotFoundError) as caught:
        await storage.add_caregiver(stranger.id, device_id, stranger.email)
    assert caught.value.subject == "device"

    everyone = [Caregiver(owner.id, owner.email, "Owner", "owner", T0), added, added_second]
    assert await storage.list_caregivers(owner.id, device_id) == everyone
    assert await storage.list_caregivers(caregiver.id, device_id) == everyone
    with pytest.raises(NotFoundError):
        await storage.list_caregivers(stranger.id, device_id)


async def test_removing_members(storage: Storage) -> None:
    owner, caregiver, stranger, device_id = await family(storage)
    second = await new_user(storage)
    await storage.add_caregiver(owner.id, device_id, second.email)
    for user, member in (
        (caregiver, second),
        (caregiver, owner),
        (owner, owner),
        (second, stranger),
    ):
        with pytest.raises(AccessDeniedError):
            await storage.remove_caregiver(user.id, device_id, member.id)
    with pytest.raises(NotFoundError) as caught:
        await storage.remove_caregiver(owner.id, device_id, stranger.id)
    assert caught.value.subject == "user"
    with pytest.raises(NotFoundError) as caught:
        await storage.remove_caregiver(stranger.id, device_id, caregiver.id)
    assert caught.value.subject == "device"

    await storage.remove_caregiver(owner.id, device_id, second.id)
    assert [m.user_id for m in await storage.list_caregivers(owner.id, device_id)] == [
        owner.id, caregiver.id,
    ]  # fmt: skip
    assert await storage.get_device(second.id, device_id) is None
    await storage.remove_caregiver(caregiver.id, device_id, caregiver.id)  # leaving
    assert [m.user_id for m in await storage.list_caregivers(owner.id, device_id)] == [owner.id]
    assert await storage.list_devices(caregiver.id) == []
    with pytest.raises(NotFoundError):
        await storage.remove_caregiver(caregiver.id, device_id, caregiver.id)


async def test_register_device_keeps_the_owners_membership_in_sync(storage: Storage) -> None:
    owner, caregiver, other = (
        await new_user(storage),
        await new_user(storage),
        await new_user(storage),
    )
    device_id = unique("dev")
    await storage.register_device(device_id, owner.id)
    await storage.add_caregiver(owner.id, device_id, caregiver.email)
    await storage.register_device(device_id, owner.id)  # again: nothing changes
    members = await storage.list_caregivers(owner.id, device_id)
    assert [(m.user_id, m.role) for m in members] == [
        (owner.id, "owner"),
        (caregiver.id, "caregiver"),
    ]
    await storage.register_device(device_id, other.id)  # handed over: earlier members leave
    assert [(m.user_id, m.role) for m in await storage.list_caregivers(other.id, device_id)] == [
        (other.id, "owner")
    ]
    assert await storage.get_device(owner.id, device_id) is None
    assert await storage.get_device(caregiver.id, device_id) is None
    await storage.register_device(device_id, None)
    assert await storage.get_device(other.id, device_id) is None


# --- the health views of a caregiver --------------------------------------------------------


async def test_a_caregiver_sees_the_devices_history_and_a_stranger_does_not(
    storage: Storage,
) -> None:
    owner, caregiver, stranger, device_id = await family(storage)
    await storage.ingest(IngestBatch(
        readings=[reading(device_id, 0, T0, 20.0, 40.0),
                  reading(device_id, 1, T0 + 10 * SECOND, 22.0, 44.0)],
        events=[event(device_id, 2, T0 + 30 * SECOND),
                event(device_id, 3, T0 + 40 * SECOND, "cry_ended", episode_id=2)],
    ))  # fmt: skip
    owners_upload, _ = await storage.add_upload(upload(owner, T0 + HOUR, 39.0, 60.0, cry=True))
    carers_upload, _ = await storage.add_upload(upload(caregiver, T0 + 2 * HOUR, 36.0, 54.0, False))

    history = await storage.list_health_records(caregiver.id, HistoryQuery())
    # every record a user is given carries their own id, device readings included
    assert [(r.source, r.user_id, r.device_id, r.temperature, r.created_at) for r in history] == [
        ("upload", caregiver.id, None, 36.0, T0 + 2 * HOUR),
        ("device", caregiver.id, device_id, 22.0, T0 + 10 * SECOND),
        ("device", caregiver.id, device_id, 20.0, T0),
    ]
    assert history[0] == carers_upload
    assert await storage.get_health_record(caregiver.id, history[1].id) == history[1]
    assert await storage.get_health_record(caregiver.id, owners_upload.id) is None
    owners = await storage.get_health_record(owner.id, history[1].id)
    assert owners == replace(history[1], user_id=owner.id)

    assert await storage.health_stats(caregiver.id) == HealthStats(
        total_records=3, cry_detected_count=1, sick_detected_count=0,
        avg_temperature=26.0, avg_humidity=46.0, latest_record=carers_upload,
    )  # fmt: skip
    assert await storage.health_stats(owner.id) == HealthStats(
        total_records=3, cry_detected_count=2, sick_detected_count=0,
        avg_temperature=27.0, avg_humidity=48.0, latest_record=owners_upload,
    )  # fmt: skip
    assert await storage.health_timeseries(caregiver.id, HOUR, T0, T0 + DAY) == [
        TimeBucket(T0 + 2 * HOUR, 36.0, 54.0, record_count=1, cry_count=0, sick_count=0),
        TimeBucket(T0, 21.0, 42.0, record_count=2, cry_count=1, sick_count=0),
    ]
    assert await storage.list_health_records(stranger.id, HistoryQuery()) == []
    assert await storage.get_health_record(stranger.id, history[1].id) is None
    assert await storage.health_stats(stranger.id) == HealthStats(0, 0, 0, None, None, None)
    assert await storage.health_timeseries(stranger.id, HOUR, T0, T0 + DAY) == []

    await storage.remove_caregiver(owner.id, device_id, caregiver.id)
    assert await storage.list_health_records(caregiver.id, HistoryQuery()) == [carers_upload]
    assert (await storage.health_stats(caregiver.id)).total_records == 1


# --- alerts ---------------------------------------------------------------------------------


async def test_alerts_reach_every_member_with_their_own_read_marks(storage: Storage) -> None:
    owner, caregiver, stranger, device_id = await family(storage)
    await storage.update_device_settings(
        owner.id, device_id, nursery={"climate_grace_s": 0.0}, device=None
    )
    (cry,) = (await storage.ingest(IngestBatch(events=[event(device_id, 1, T0)]))).alerts
    _, owners = await storage.add_upload(upload(owner, T0 + 30 * 60 * SECOND, 37.0, 50.0, True))
    (hot,) = (await storage.ingest(
        IngestBatch(readings=[reading(device_id, 2, T0 + HOUR, 25.0, 45.0)])
    )).alerts  # fmt: skip
    _, carers = await storage.add_upload(upload(caregiver, T0 + 2 * HOUR, 37.0, 50.0, True))
    _, strangers = await storage.add_upload(
        upload(stranger, T0 + 90 * 60 * SECOND, 37.0, 50.0, True)
    )
    assert owners is not None
    assert carers is not None
    assert strangers is not None
    assert (cry.kind, hot.kind) == ("CRY_DETECTED", "CLIMATE_OUT_OF_RANGE")

    assert await storage.list_user_alerts(owner.id, AlertQuery()) == [
        view(hot),
        view(owners),
        view(cry),
    ]
    assert await storage.list_user_alerts(caregiver.id, AlertQuery()) == [
        view(carers), view(hot), view(cry),
    ]  # fmt: skip
    assert await storage.list_user_alerts(stranger.id, AlertQuery()) == [view(strangers)]
    assert [await storage.count_unread_alerts(u.id) for u in (owner, caregiver, stranger)] == [
        3,
        3,
        1,
    ]

    # ids the user cannot see, or that do not exist, are ignored
    marked = await storage.mark_alerts_read(owner.id, [cry.id, carers.id, strangers.id, 10**12], T0)
    assert marked == 1
    assert await storage.mark_alerts_read(owner.id, [cry.id], T0) == 0
    assert await storage.mark_alerts_read(owner.id, [], T0) == 0
    assert [await storage.count_unread_alerts(u.id) for u in (owner, caregiver, stranger)] == [
        2,
        3,
        1,
    ]
    assert await storage.list_user_alerts(owner.id, AlertQuery()) == [
        view(hot), view(owners), view(cry, read=True),
    ]  # fmt: skip
    assert (await storage.list_user_alerts(caregiver.id, AlertQuery()))[-1] == view(cry)
    assert await storage.list_user_alerts(owner.id, AlertQuery(unread_only=True)) == [
        view(hot), view(owners),
    ]  # fmt: skip
    assert await storage.mark_alerts_read(caregiver.id, None, T0) == 3
    assert await storage.mark_alerts_read(caregiver.id, None, T0) == 0
    assert [await storage.count_unread_alerts(u.id) for u in (owner, caregiver, stranger)] == [
        2,
        0,
        1,
    ]


async def test_alert_filters(storage: Storage) -> None:
    owner, _caregiver, _stranger, device_id = await family(storage)
    await storage.update_device_settings(
        owner.id, device_id, nursery={"climate_grace_s": 0.0}, device=None
    )
    (cry,) = (await storage.ingest(IngestBatch(events=[event(device_id, 1, T0)]))).alerts
    _, own = await storage.add_upload(upload(owner, T0 + 30 * 60 * SECOND, 37.0, 50.0, True))
    (hot,) = (await storage.ingest(
        IngestBatch(readings=[reading(device_id, 2, T0 + HOUR, 25.0, 45.0)])
    )).alerts  # fmt: skip
    assert own is not None

    async def ids(query: AlertQuery) -> list[int]:
        return [alert.id for alert in await storage.list_user_alerts(owner.id, query)]

    assert await ids(AlertQuery(device_id=device_id)) == [hot.id, cry.id]
    assert await ids(AlertQuery(device_id=unique("other"))) == []
    assert await ids(AlertQuery(kind="CLIMATE_OUT_OF_RANGE")) == [hot.id]
    assert await ids(AlertQuery(kind="CRY_DETECTED")) == [own.id, cry.id]
    # start and end are both included
    assert await ids(AlertQuery(start=T0 + 30 * 60 * SECOND, end=T0 + HOUR)) == [hot.id, own.id]
    assert await ids(AlertQuery(start=T0 + 30 * 60 * SECOND + TICK, end=T0 + HOUR - TICK)) == []
    assert await ids(AlertQuery(limit=1, offset=1)) == [own.id]
    await storage.mark_alerts_read(owner.id, [hot.id], T0)
    assert await ids(AlertQuery(unread_only=True, device_id=device_id)) == [cry.id]


async def test_alert_recipients_are_the_uploader_or_every_member_owner_first(
    storage: Storage,
) -> None:
    owner, first, second = await new_user(storage), await new_user(storage), await new_user(storage)
    # claimed "later" than the caregivers are added, to show the owner comes first by role
    claimed_at = datetime.now(UTC) + SECOND
    device_id = await claimed_device(storage, owner, now=claimed_at)
    await storage.add_caregiver(owner.id, device_id, first.email)
    await storage.add_caregiver(owner.id, device_id, second.email)
    # an alert is told only when raised in the claim period, so wait for it to start
    await asyncio.sleep(max(0.0, (claimed_at - datetime.now(UTC)).total_seconds()) + 0.01)
    recorded_now = EventRow(
        device_id, 1, datetime.now(UTC), datetime.now(UTC), "cry_started", 1, 0.75, -30.0, None
    )
    (alert,) = (await storage.ingest(IngestBatch(events=[recorded_now]))).alerts
    assert await storage.alert_recipients(alert) == [owner.id, first.id, second.id]
    _, uploaded = await storage.add_upload(upload(first, T0, 37.0, 50.0, True))
    assert uploaded is not None
    assert await storage.alert_recipients(uploaded) == [first.id]
    nobodys = replace(alert, device_id=unique("unknown"))
    assert await storage.alert_recipients(nobodys) == []


# --- cry episodes ---------------------------------------------------------------------------


async def test_cry_episodes_pair_starts_with_ends(storage: Storage) -> None:
    owner, caregiver, stranger, device_id = await family(storage)
    other_device = await claimed_device(storage, owner)
    await storage.ingest(IngestBatch(events=[
        event(device_id, 1, T0, confidence=0.6, sound_dbfs=-35.0),
        event(device_id, 2, T0 + 40 * SECOND, "cry_ended", episode_id=1, confidence=0.9,
              sound_dbfs=-20.0, duration_s=40.0),
        event(device_id, 5, T0 + HOUR, confidence=0.7, sound_dbfs=None),  # still crying
        # another device's episode with the same ids pairs only with its own
        event(other_device, 1, T0 + 5 * SECOND),
        event(other_device, 5, T0 + 2 * HOUR, "cry_ended", episode_id=5, duration_s=9.0),
    ]))  # fmt: skip
    still_crying = CryEpisode(device_id, 5, T0 + HOUR, None, 0.7, None, None)
    finished = CryEpisode(device_id, 1, T0, T0 + 40 * SECOND, 0.9, 40.0, -20.0)
    assert await storage.list_cry_episodes(owner.id, device_id, None, None, 10) == [
        still_crying, finished,
    ]  # fmt: skip
    assert await storage.list_cry_episodes(caregiver.id, device_id, None, None, 1) == [still_crying]
    assert await storage.list_cry_episodes(owner.id, device_id, T0 + TICK, None, 10) == [
        still_crying
    ]
    assert await storage.list_cry_episodes(owner.id, device_id, None, T0, 10) == [finished]
    assert await storage.list_cry_episodes(owner.id, other_device, None, None, 10) == [
        CryEpisode(other_device, 1, T0 + 5 * SECOND, None, 0.75, None, -30.0)
    ]
    with pytest.raises(NotFoundError):
        await storage.list_cry_episodes(stranger.id, device_id, None, None, 10)
    # the end arrives (and is redelivered): the episode closes once
    end = event(device_id, 6, T0 + HOUR + 12 * SECOND, "cry_ended", episode_id=5,
                confidence=0.8, sound_dbfs=-25.0, duration_s=12.0)  # fmt: skip
    await storage.ingest(IngestBatch(events=[end]))
    await storage.ingest(IngestBatch(events=[end]))
    assert await storage.list_cry_episodes(owner.id, device_id, None, None, 10) == [
        CryEpisode(device_id, 5, T0 + HOUR, T0 + HOUR + 12 * SECOND, 0.8, 12.0, -25.0), finished,
    ]  # fmt: skip


async def test_an_episode_closed_by_a_restart_says_why_and_an_ordinary_one_does_not(
    storage: Storage,
) -> None:
    owner, caregiver, _, device_id = await family(storage)
    restarted = event(device_id, 2, T0 + 7 * SECOND, "cry_ended", episode_id=1, confidence=0.9,
                      duration_s=7.0, end_reason="device_restarted")  # fmt: skip
    await storage.ingest(IngestBatch(events=[
        event(device_id, 1, T0),
        restarted,
        event(device_id, 3, T0 + HOUR),
        event(device_id, 4, T0 + HOUR + 20 * SECOND, "cry_ended", episode_id=3, duration_s=20.0),
        event(device_id, 5, T0 + 2 * HOUR),  # still crying
    ]))  # fmt: skip
    await storage.ingest(IngestBatch(events=[restarted]))  # redelivered: stored once, unchanged
    expected = [
        CryEpisode(device_id, 5, T0 + 2 * HOUR, None, 0.75, None, -30.0, None),
        CryEpisode(device_id, 3, T0 + HOUR, T0 + HOUR + 20 * SECOND, 0.75, 20.0, -30.0, None),
        CryEpisode(device_id, 1, T0, T0 + 7 * SECOND, 0.9, 7.0, -30.0, "device_restarted"),
    ]
    assert await storage.list_cry_episodes(owner.id, device_id, None, None, 10) == expected
    assert await storage.list_cry_episodes(caregiver.id, device_id, None, None, 10) == expected


# --- refresh tokens -------------------------------------------------------------------------


async def test_refresh_rotation_detects_reuse_and_revokes_the_family(storage: Storage) -> None:
    user = await new_user(storage)
    family_id, other_family = unique("fam"), unique("fam")
    t1, t2, t3, t4, u1 = (unique("tok") for _ in range(5))
    await storage.store_refresh_token(t1, user.id, family_id, T0, T0 + DAY, 0)
    await storage.store_refresh_token(u1, user.id, other_family, T0, T0 + DAY, 0)
    assert await storage.use_refresh_token(t1, T0 + HOUR) == ("ok", user.id)
    await storage.store_refresh_token(t2, user.id, family_id, T0 + HOUR, T0 + DAY, 0)
    assert await storage.use_refresh_token(t2, T0 + 2 * HOUR) == ("ok", user.id)
    await storage.store_refresh_token(t3, user.id, family_id, T0 + 2 * HOUR, T0 + DAY, 0)
    # t1 presented again: someone holds a copy
    assert await storage.use_refresh_token(t1, T0 + 3 * HOUR) == ("reused", user.id)
    assert await storage.use_refresh_token(t3, T0 + 3 * HOUR) == ("revoked", user.id)
    assert await storage.use_refresh_token(t2, T0 + 3 * HOUR) == ("revoked", user.id)
    assert await storage.use_refresh_token(t1, T0 + 3 * HOUR) == ("revoked", user.id)
    # a rotation that was in flight cannot revive the family
    assert not await storage.store_refresh_token(t4, user.id, family_id, T0 + 3 * HOUR, T0 + DAY, 0)
    assert await storage.use_refresh_token(t4, T0 + 3 * HOUR) == ("revoked", user.id)
    # another sign-in of the same user is untouched
    assert await storage.use_refresh_token(u1, T0 + 3 * HOUR) == ("ok", user.id)


async def test_refresh_tokens_expire_and_unknown_ones_are_unknown(storage: Storage) -> None:
    user = await new_user(storage)
    token = unique("tok")
    await storage.store_refresh_token(token, user.id, unique("fam"), T0, T0 + HOUR, 0)
    assert await storage.use_refresh_token(token, T0 + HOUR) == ("expired", user.id)
    # an expired attempt spends nothing
    assert await storage.use_refresh_token(token, T0 + HOUR - TICK) == ("ok", user.id)
    assert await storage.use_refresh_token(token, T0 + 2 * HOUR) == ("expired", user.id)
    assert await storage.use_refresh_token(unique("tok"), T0) == ("unknown", None)


async def test_logout_and_logout_everywhere(storage: Storage) -> None:
    user, other = await new_user(storage), await new_user(storage)
    phone, laptop = unique("fam"), unique("fam")
    phone_old, phone_new, laptop_token, others = (unique("tok") for _ in range(4))
    await storage.store_refresh_token(phone_old, user.id, phone, T0, T0 + DAY, 0)
    assert await storage.use_refresh_token(phone_old, T0) == ("ok", user.id)
    await storage.store_refresh_token(phone_new, user.id, phone, T0, T0 + DAY, 0)
    await storage.store_refresh_token(laptop_token, user.id, laptop, T0, T0 + DAY, 0)
    await storage.store_refresh_token(others, other.id, unique("fam"), T0, T0 + DAY, 0)

    await storage.revoke_refresh_family(phone, T0 + HOUR)
    await storage.revoke_refresh_family(unique("fam"), T0 + HOUR)  # nothing to revoke
    assert await storage.use_refresh_token(phone_new, T0 + HOUR) == ("revoked", user.id)
    assert await storage.revoke_user_refresh_tokens(user.id, T0 + HOUR) == 1  # the laptop's
    assert await storage.revoke_user_refresh_tokens(user.id, T0 + HOUR) == 0
    # revoked wins over expired
    assert await storage.use_refresh_token(laptop_token, T0 + 2 * DAY) == ("revoked", user.id)
    assert await storage.use_refresh_token(others, T0 + HOUR) == ("ok", other.id)


# --- the migration --------------------------------------------------------------------------


OWNED, UNOWNED = "dev-owned", "dev-unowned"


async def test_postgres_migration_makes_owners_members() -> None:
    with fresh_database() as url:
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, row_factory=dict_row
        ) as conn:
            migrations = bundled_migrations()
            await apply_postgres_migrations(conn, [m for m in migrations if m.version < "0005"])
            cursor = await conn.execute(
                "INSERT INTO users (email, password_hash, created_at) VALUES ('a@example.com',"
                " 'hash', %s) RETURNING id",
                (T0,),
            )
            user = await cursor.fetchone()
            assert user is not None
            await conn.execute(
                "INSERT INTO devices (device_id, owner_id, created_at) VALUES (%s, %s, %s),"
                " (%s, NULL, %s)",
                (OWNED, user["id"], T0, UNOWNED, T0 + HOUR),
            )
            applied = await apply_postgres_migrations(conn, migrations)
            assert applied[0] == "0005_devices_sharing"
            cursor = await conn.execute(
                "SELECT device_id, user_id, role, added_at FROM device_members"
            )
            assert await cursor.fetchall() == [
                {"device_id": OWNED, "user_id": user["id"], "role": "owner", "added_at": T0}
            ]
            cursor = await conn.execute(
                "SELECT device_id, claimed_at, device_settings, device_settings_revision"
                " FROM devices ORDER BY device_id"
            )
            assert await cursor.fetchall() == [
                {"device_id": OWNED, "claimed_at": T0, "device_settings": {},
                 "device_settings_revision": 0},
                {"device_id": UNOWNED, "claimed_at": None, "device_settings": {},
                 "device_settings_revision": 0},
            ]  # fmt: skip


def test_sqlite_migration_makes_owners_members(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    folder = resources.files("cloud.storage").joinpath("migrations", "sqlite")
    conn.execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT)")
    for version in ("0001_initial", "0002_ingest", "0003_upload_alerts"):
        conn.executescript(folder.joinpath(f"{version}.sql").read_text())
        conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
    user_id = conn.execute(
        "INSERT INTO users (email, password_hash, created_at) VALUES ('a@example.com', 'hash', ?)"
        " RETURNING id",
        (to_db_time(T0),),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO devices (device_id, owner_id, created_at) VALUES (?, ?, ?), (?, NULL, ?)",
        (OWNED, user_id, to_db_time(T0), UNOWNED, to_db_time(T0 + HOUR)),
    )
    assert apply_sqlite_migrations(conn)[0] == "0004_devices_sharing"
    members = conn.execute("SELECT device_id, user_id, role, added_at FROM device_members")
    assert [tuple(row) for row in members] == [(OWNED, user_id, "owner", to_db_time(T0))]
    devices = conn.execute(
        "SELECT device_id, claimed_at, device_settings, device_settings_revision FROM devices"
        " ORDER BY device_id"
    )
    assert [tuple(row) for row in devices] == [
        (OWNED, to_db_time(T0), "{}", 0), (UNOWNED, None, "{}", 0),
    ]  # fmt: skip
    conn.close()
