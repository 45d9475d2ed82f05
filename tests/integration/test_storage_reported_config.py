"""What devices report on config/reported, stored per device, run against every backend.

The latest revision wins: an older revision (a stale or retained copy redelivered later) never
replaces a newer one, and the same revision re-sent replaces it only when sent later.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cloud.storage import Storage
from cloud.storage.records import DeviceSummary, IngestBatch, ReportedConfigRow

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
SETTINGS: dict[str, object] = {"telemetry_interval_s": 10, "cry_sensitivity": 0.5}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def report(
    device_id: str,
    revision: int,
    seconds: float,
    *,
    accepted: bool = True,
    settings: dict[str, object] | None = None,
    error: str | None = None,
) -> ReportedConfigRow:
    time = T0 + timedelta(seconds=seconds)
    return ReportedConfigRow(
        device_id, 100 + revision, time, time + timedelta(seconds=0.1), revision, accepted,
        dict(SETTINGS if settings is None else settings), error,
        raw=b'{"revision": %d}' % revision,
    )  # fmt: skip


async def new_device(storage: Storage) -> tuple[int, str]:
    owner = await storage.create_user(f"{unique('owner')}@example.com", "hash", None)
    device_id = unique("dev")
    await storage.register_device(device_id, owner.id)
    return owner.id, device_id


async def shown(storage: Storage, user_id: int, device_id: str) -> DeviceSummary:
    device = await storage.get_device(user_id, device_id)
    assert device is not None
    (listed,) = [d for d in await storage.list_devices(user_id) if d.device_id == device_id]
    assert listed == device
    return device


def reported(device: DeviceSummary) -> tuple[object, ...]:
    return (
        device.reported_revision, device.reported_accepted, device.reported_error,
        device.reported_at, device.reported_settings,
    )  # fmt: skip


async def test_nothing_is_reported_before_the_device_answers(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    device = await shown(storage, owner_id, device_id)
    assert reported(device) == (None, None, None, None, None)


async def test_the_latest_revision_wins(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)

    first = await storage.ingest(IngestBatch(reported=[report(device_id, 3, 10)]))
    assert (first.reported_applied, first.dead_letters) == (1, 0)
    device = await shown(storage, owner_id, device_id)
    assert reported(device) == (3, True, None, T0 + timedelta(seconds=10), SETTINGS)

    # An older revision sent later (a stale retained copy redelivered) changes nothing.
    stale = await storage.ingest(
        IngestBatch(reported=[report(device_id, 2, 20, settings={"cry_sensitivity": 0.9})])
    )
    assert stale.reported_applied == 0
    assert reported(await shown(storage, owner_id, device_id)) == reported(device)

    # A newer revision wins even if the device's clock says it was sent earlier.
    refused = report(
        device_id, 4, 5, accepted=False, error="cry_sensitivity: must be between 0 and 1"
    )
    assert (await storage.ingest(IngestBatch(reported=[refused]))).reported_applied == 1
    device = await shown(storage, owner_id, device_id)
    assert reported(device) == (
        4, False, "cry_sensitivity: must be between 0 and 1", T0 + timedelta(seconds=5), SETTINGS,
    )  # fmt: skip

    # The same revision re-sent later keeps the newer time; an earlier copy of it is ignored.
    resent = report(device_id, 4, 30, accepted=False, error="still refused")
    assert (await storage.ingest(IngestBatch(reported=[resent]))).reported_applied == 1
    earlier = report(device_id, 4, 1, accepted=False, error="an old copy")
    assert (await storage.ingest(IngestBatch(reported=[earlier]))).reported_applied == 0
    device = await shown(storage, owner_id, device_id)
    assert (device.reported_revision, device.reported_error, device.reported_at) == (
        4, "still refused", T0 + timedelta(seconds=30),
    )  # fmt: skip


async def test_a_batch_applies_each_devices_latest_report(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    _other_owner, other_id = await new_device(storage)
    batch = IngestBatch(
        reported=[
            report(device_id, 6, 40, settings={"telemetry_interval_s": 30}),
            report(device_id, 7, 20, settings={"telemetry_interval_s": 60}),
            report(device_id, 5, 50),
            report(device_id, 7, 10, settings={"telemetry_interval_s": 1}),
            report(other_id, 1, 0),
        ]
    )
    result = await storage.ingest(batch)
    assert (result.reported_applied, result.dead_letters) == (2, 0)
    device = await shown(storage, owner_id, device_id)
    assert reported(device) == (
        7, True, None, T0 + timedelta(seconds=20), {"telemetry_interval_s": 60},
    )  # fmt: skip
    # Reports are device state, not stream rows: nothing in the history, no duplicates.
    assert result.duplicates == 0
    assert result.readings_stored == result.events_stored == 0


async def test_reports_are_shown_to_caregivers_too(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    caregiver = await storage.create_user(f"{unique('carer')}@example.com", "hash", None)
    await storage.add_caregiver(owner_id, device_id, caregiver.email)
    await storage.ingest(IngestBatch(reported=[report(device_id, 2, 0)]))
    seen = await shown(storage, caregiver.id, device_id)
    assert (seen.role, seen.reported_revision, seen.reported_accepted) == ("caregiver", 2, True)


async def test_reports_of_unknown_devices_become_dead_letters(storage: Storage) -> None:
    owner_id, device_id = await new_device(storage)
    stranger = unique("unknown")
    result = await storage.ingest(
        IngestBatch(reported=[report(stranger, 9, 0), report(device_id, 1, 0)])
    )
    assert (result.reported_applied, result.dead_letters) == (1, 1)
    letters = await storage.list_dead_letters(limit=10)
    (letter,) = [letter for letter in letters if stranger in letter.topic]
    assert letter.topic == f"nursery/v1/{stranger}/config/reported"
    assert letter.payload == b'{"revision": 9}'
    assert letter.error == "unknown device"
    assert (await shown(storage, owner_id, device_id)).reported_revision == 1
