"""What the API has published of each device's "not a cry" list, on every backend: a list whose
revision is above the one noted as published is unpublished (read whole, as the device is sent
it) until noted; a note never lowers what is noted; a change made without the API (the operator
handing the device on) is unpublished like any other; lists come in batches in device order."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from cloud.storage import Storage
from cloud.storage.records import IgnoreListState, IngestBatch, StatusRow
from models.contract.payloads import MAX_SEQ
from tests.integration.test_storage_contract import unique
from tests.integration.test_storage_not_a_cry import NOW, SECOND, cries, family, marked

# Above the number of lists all the session's tests leave in the shared database.
ALL = 100_000


async def unpublished(storage: Storage, *device_ids: str) -> list[IgnoreListState]:
    """This test's devices among the unpublished lists (the database is the session's)."""
    lists = await storage.unpublished_ignore_lists(ALL)
    return [state for state in lists if state.device_id in device_ids]


async def test_a_changed_list_is_unpublished_until_noted(storage: Storage) -> None:
    anna, _ben, device_id = await family(storage)
    await cries(storage, device_id, 2)
    assert await unpublished(storage, device_id) == [], "revision 0: nothing to send"

    first = await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    assert await unpublished(storage, device_id) == [first]
    await storage.note_ignore_list_published(device_id, first.revision)
    assert await unpublished(storage, device_id) == []

    second = await storage.mark_not_a_cry(anna, device_id, 2, NOW + SECOND)
    [state] = await unpublished(storage, device_id)
    assert (state.revision, marked(state)) == (2, [2, 1])
    assert state == await storage.ignore_list_for_device(device_id)
    # A late note of the older revision (a slower process) leaves the newer one unsent.
    await storage.note_ignore_list_published(device_id, first.revision)
    assert await unpublished(storage, device_id) == [second]

    await storage.note_ignore_list_published(device_id, second.revision)
    # And once the newer one is noted, the older note does not lower it again.
    await storage.note_ignore_list_published(device_id, first.revision)
    assert await unpublished(storage, device_id) == []
    # Nor does noting the same revision twice (two API processes sent it).
    await storage.note_ignore_list_published(device_id, second.revision)
    assert await unpublished(storage, device_id) == []

    cleared = await storage.clear_ignore_list(anna, device_id)
    assert await unpublished(storage, device_id) == [cleared]
    assert cleared.marks == []


async def test_a_note_for_a_device_that_is_not_there_is_no_error(storage: Storage) -> None:
    await storage.note_ignore_list_published(unique("dev"), 3)


async def test_the_operator_handing_a_device_on_leaves_its_empty_list_unpublished(
    storage: Storage,
) -> None:
    """`nursery-cloud device register --owner` empties the list in storage and publishes
    nothing: the list is unpublished, so the API sends it."""
    anna, _ben, device_id = await family(storage)
    await cries(storage, device_id, 1)
    state = await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    await storage.note_ignore_list_published(device_id, state.revision)
    dora = await storage.create_user(f"{unique('dora')}@example.com", "hash", "Dora")

    await storage.register_device(device_id, dora.id)
    [handed] = await unpublished(storage, device_id)
    assert (handed.revision, handed.marks) == (state.revision + 1, [])


async def test_lists_come_in_batches_in_device_order(storage: Storage) -> None:
    devices = []
    for _ in range(3):
        anna, _ben, device_id = await family(storage)
        await cries(storage, device_id, 1)
        await storage.mark_not_a_cry(anna, device_id, 1, NOW)
        devices.append(device_id)

    seen: list[str] = []
    while batch := await storage.unpublished_ignore_lists(2):
        ids = [state.device_id for state in batch]
        assert len(ids) <= 2
        assert ids == sorted(ids)
        seen += ids
        for state in batch:
            await storage.note_ignore_list_published(state.device_id, state.revision)
    assert seen == sorted(seen)
    assert set(devices) <= set(seen)
    assert await unpublished(storage, *devices) == []


async def test_a_device_holding_a_newer_list_than_the_server_is_overtaken(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's database came back from an older backup: the device holds revision 6 of
    a list the server counts at 1. Its online status raises the server's revision above the
    device's, so the server's list is sent as the newer one (and an undo or clear reaches it)."""
    anna, _ben, device_id = await family(storage)
    await cries(storage, device_id, 1)
    first = await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    await storage.note_ignore_list_published(device_id, first.revision)

    def status(online: bool, at: datetime, revision: int) -> StatusRow:
        report: dict[str, object] = {"uptime_s": 5.0, "ignore_list_revision": revision}
        return StatusRow(device_id, 0, at, at, online, "0.1.0", "cry-1", report)

    # The device in step with the server, or behind it: nothing to overtake.
    await storage.ingest(IngestBatch(statuses=[status(True, NOW, 1)]))
    assert (await storage.ignore_list_for_device(device_id)).revision == 1
    assert await unpublished(storage, device_id) == []
    # An offline status (the broker's last will) says what the device held when it connected.
    await storage.ingest(IngestBatch(statuses=[status(False, NOW + SECOND, 9)]))
    assert (await storage.ignore_list_for_device(device_id)).revision == 1

    with caplog.at_level(logging.WARNING, logger="cloud.storage.not_a_cry_plan"):
        # A revision no server sent (a forged or broken status, the contract's top): ignored,
        # rather than leaving the server's revision no room to count on.
        await storage.ingest(IngestBatch(statuses=[status(True, NOW + 2 * SECOND, MAX_SEQ)]))
        assert (await storage.ignore_list_for_device(device_id)).revision == 1
        assert f"device {device_id} reports 'not a cry' list revision {MAX_SEQ}" in caplog.text
        await storage.ingest(IngestBatch(statuses=[status(True, NOW + 2.5 * SECOND, 6)]))
    assert f"device {device_id} holds 'not a cry' list revision 6" in caplog.text
    [state] = await unpublished(storage, device_id)
    assert (state.revision, marked(state), state.device_revision) == (7, [1], 6)
    # Once the device takes it, it reports 7: in step again.
    await storage.note_ignore_list_published(device_id, state.revision)
    await storage.ingest(IngestBatch(statuses=[status(True, NOW + 3 * SECOND, 7)]))
    assert (await storage.ignore_list_for_device(device_id)).revision == 7
    assert await unpublished(storage, device_id) == []
    # The next undo is newer than anything the device holds.
    undone = await storage.unmark_not_a_cry(anna, device_id, 1)
    assert undone.revision == 8


async def test_a_device_behind_the_list_handed_to_the_broker_is_sent_it_again(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker lost the retained list it was handed (a crash before its autosave, a replaced
    volume): the device's online status says it holds an older revision, and the list is
    unpublished again, so the sync sends it. In step, or offline, nothing changes."""
    anna, _ben, device_id = await family(storage)
    await cries(storage, device_id, 2)
    first = await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    second = await storage.mark_not_a_cry(anna, device_id, 2, NOW)
    await storage.note_ignore_list_published(device_id, second.revision)

    def status(online: bool, at: datetime, revision: int) -> StatusRow:
        report: dict[str, object] = {"uptime_s": 5.0, "ignore_list_revision": revision}
        return StatusRow(device_id, 0, at, at, online, "0.1.0", "cry-1", report)

    await storage.ingest(IngestBatch(statuses=[status(True, NOW, second.revision)]))
    assert await unpublished(storage, device_id) == []
    # The last will repeats what the device held when it connected: not evidence of a loss.
    await storage.ingest(IngestBatch(statuses=[status(False, NOW + SECOND, first.revision)]))
    assert await unpublished(storage, device_id) == []

    with caplog.at_level(logging.INFO, logger="cloud.storage.not_a_cry_plan"):
        await storage.ingest(IngestBatch(statuses=[status(True, NOW + 2 * SECOND, first.revision)]))
    assert f"device {device_id} holds 'not a cry' list revision {first.revision}, older" in (
        caplog.text
    )
    [state] = await unpublished(storage, device_id)
    assert (state.revision, marked(state)) == (second.revision, [2, 1])
    # Sent again and taken: in step.
    await storage.note_ignore_list_published(device_id, state.revision)
    await storage.ingest(IngestBatch(statuses=[status(True, NOW + 3 * SECOND, second.revision)]))
    assert await unpublished(storage, device_id) == []
    assert (await storage.ignore_list_for_device(device_id)).revision == second.revision
