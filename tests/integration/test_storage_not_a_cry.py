"""The "not a cry" list (issue 31) on every backend: what a cry the device ignored becomes
(stored with why, a CRY_IGNORED notice, no alarm, the cooldown untouched), and the marks -
who may set them, the list's revision, its bound, undo, clear, and a change of hands - as the
episodes, the device summary and the list itself show them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.rules import AlertKind
from cloud.storage import AmbiguousEpisodeError, NotFoundError, Storage
from cloud.storage.records import (
    EventRow,
    IgnoredEpisodeRow,
    IgnoreListState,
    IngestBatch,
    NotACryMark,
    StatusRow,
)
from models.contract import MAX_IGNORE_MARKS
from tests.harness.api import Api
from tests.integration.test_storage_contract import T0, unique

SECOND = timedelta(seconds=1)
MARKED_AT = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
CRY = Path(__file__).resolve().parents[1] / "data" / "audio" / "cry_donateacry.flac"


def cry(
    device_id: str,
    seq: int,
    at: datetime,
    ignored: IgnoredEpisodeRow | None = None,
    kind: str = "cry_started",
) -> EventRow:
    return EventRow(device_id, seq, at, at, kind, seq, 0.9, -30.0, None, raw=b"{}", ignored=ignored)


async def family(storage: Storage) -> tuple[int, int, str]:
    """An owner named Anna, a caregiver named Ben and their device."""
    anna = await storage.create_user(f"{unique('anna')}@example.com", "hash", "Anna")
    ben = await storage.create_user(f"{unique('ben')}@example.com", "hash", "Ben")
    device_id = unique("dev")
    await storage.register_device(device_id, anna.id)
    await storage.add_caregiver(anna.id, device_id, ben.email)
    return anna.id, ben.id, device_id


async def cries(storage: Storage, device_id: str, count: int) -> None:
    """Episodes 1..count, ten seconds apart."""
    events = [cry(device_id, seq, T0 + 10 * seq * SECOND) for seq in range(1, count + 1)]
    await storage.ingest(IngestBatch(events=events))


def marked(state: IgnoreListState) -> list[int]:
    return [mark.episode_id for mark in state.marks]


async def test_an_ignored_cry_is_stored_as_a_notice_and_a_real_cry_still_alarms(
    storage: Storage,
) -> None:
    anna, _ben, device_id = await family(storage)
    # The marked episode, an hour before (its alarm's cooldown long over).
    await storage.ingest(IngestBatch(events=[cry(device_id, 3, T0 - timedelta(hours=1))]))
    await storage.mark_not_a_cry(anna, device_id, 3, MARKED_AT)
    because = IgnoredEpisodeRow(like_episode_id=3, marked_at=MARKED_AT, similarity=0.91)
    ignored = cry(device_id, 7, T0, because)
    result = await storage.ingest(IngestBatch(events=[ignored]))
    [notice] = result.alerts
    assert (notice.kind, notice.needs_ack, notice.sick_detected) == (
        AlertKind.CRY_IGNORED, False, False,
    )  # fmt: skip
    assert notice.message.endswith('marked "not a cry" on 2026-11-20')
    assert notice.details["episode_id"] == 7
    assert notice.details["ignored"] == {
        "like_episode_id": 3, "marked_at": MARKED_AT.isoformat(), "similarity": 0.91,
    }  # fmt: skip
    # Nothing escalates a notice, however long nobody looks.
    assert await storage.escalate_due(T0 + timedelta(hours=1)) == []

    # Twenty seconds later, well inside the cooldown: a real cry still wakes the parents.
    real = await storage.ingest(IngestBatch(events=[cry(device_id, 9, T0 + 20 * SECOND)]))
    [alarm] = real.alerts
    assert (alarm.kind, alarm.needs_ack) == (AlertKind.CRY_DETECTED, True)
    assert alarm.details["episode_id"] == 9

    # The ignored episode is recorded as such, the real one is not.
    by_id = {
        e.episode_id: e for e in await storage.list_cry_episodes(anna, device_id, None, None, 10)
    }
    assert by_id[7].ignored == because
    assert by_id[9].ignored is None
    assert (by_id[7].not_a_cry, by_id[9].not_a_cry) == (None, None)
    kinds = [a.kind for a in await storage.list_alerts(device_id)]
    assert sorted(kinds) == [AlertKind.CRY_DETECTED, AlertKind.CRY_DETECTED, AlertKind.CRY_IGNORED]


async def test_an_ignored_cry_citing_a_mark_no_longer_there_still_alarms(
    storage: Storage,
) -> None:
    """The device decides with the list it holds; the cloud holds the list as it is. A cry the
    device ignored because of an episode that is not marked now (the undo, or the clear, has
    not reached the device yet; a list from before the device changed hands; an old backlog)
    wakes the parents as any cry does, with the device's reason attached."""
    anna, _ben, device_id = await family(storage)
    carl, _dora, neighbour = await family(storage)
    await cries(storage, device_id, 3)
    await cries(storage, neighbour, 1)
    for episode_id in (1, 2):
        await storage.mark_not_a_cry(anna, device_id, episode_id, NOW)
    await storage.unmark_not_a_cry(anna, device_id, 1)  # still on its way to the device
    # The neighbour's episode 1 is marked: marks are per device.
    await storage.mark_not_a_cry(carl, neighbour, 1, NOW)

    stale = IgnoredEpisodeRow(like_episode_id=1, marked_at=NOW, similarity=0.92)
    current = IgnoredEpisodeRow(like_episode_id=2, marked_at=NOW, similarity=0.9)
    hour = timedelta(hours=1)  # past each alarm's cooldown
    result = await storage.ingest(IngestBatch(events=[
        cry(device_id, 10, T0 + hour, stale), cry(device_id, 11, T0 + 2 * hour, current),
    ]))  # fmt: skip
    by_episode = {alert.details["episode_id"]: alert for alert in result.alerts}
    alarm, notice = by_episode[10], by_episode[11]
    assert (alarm.kind, alarm.needs_ack) == (AlertKind.CRY_DETECTED, True)
    assert alarm.message == "Baby is crying"
    assert alarm.details["ignored_stale"] == {
        "like_episode_id": 1, "marked_at": NOW.isoformat(), "similarity": 0.92,
    }  # fmt: skip
    assert "ignored" not in alarm.details
    assert (notice.kind, notice.needs_ack) == (AlertKind.CRY_IGNORED, False)
    assert "ignored_stale" not in notice.details

    # Cleared (or handed on, which clears): nothing the device cites is marked any more.
    await storage.clear_ignore_list(anna, device_id)
    after_clear = await storage.ingest(
        IngestBatch(events=[cry(device_id, 12, T0 + 3 * hour, current)])
    )
    [cleared] = after_clear.alerts
    assert cleared.kind == AlertKind.CRY_DETECTED
    assert cleared.details["ignored_stale"] == {
        "like_episode_id": 2, "marked_at": NOW.isoformat(), "similarity": 0.9,
    }  # fmt: skip
    # The episode keeps what the device said of it.
    episodes = await storage.list_cry_episodes(anna, device_id, None, None, 20)
    assert {e.episode_id: e.ignored for e in episodes}[10] == stale


async def test_an_offline_status_keeps_what_the_device_last_said_of_its_list(
    storage: Storage,
) -> None:
    """The broker's last will was built when the device connected: its list fields are as old
    as that connection and must not replace the newer ones the device reported since."""
    anna, _ben, device_id = await family(storage)

    def status(online: bool, at: datetime, revision: int, size: int) -> StatusRow:
        report = {
            "uptime_s": 5.0, "ignore_list_size": size,
            "ignore_list_changed_at": (MARKED_AT + revision * SECOND).isoformat(),
            "ignore_list_revision": revision, "ignore_list_unknown": [revision],
        }  # fmt: skip
        return StatusRow(device_id, 0, at, at, online, "0.1.0", "cry-1", report)

    await storage.ingest(IngestBatch(statuses=[status(True, NOW, 3, 2)]))
    # The will, built at connect time (revision 1), published after an unclean disconnect.
    will = status(False, NOW - timedelta(hours=2), 1, 1)
    will = StatusRow(device_id, 0, will.time, NOW + SECOND, False, "0.1.0", "cry-1", will.details)
    await storage.ingest(IngestBatch(statuses=[will]))
    device = await storage.get_device(anna, device_id)
    assert device is not None
    assert device.online is False, "the will still tells it went away"
    state = await storage.get_ignore_list(anna, device_id)
    assert (state.device_revision, state.device_size, state.device_unknown) == (3, 2, [3])
    assert state.device_changed_at == MARKED_AT + 3 * SECOND
    # The same will delivered again (a retained copy to a new subscription) changes nothing.
    again = StatusRow(device_id, 0, will.time, NOW + 2 * SECOND, False, "0.1.0", "cry-1",
                      will.details)  # fmt: skip
    assert (await storage.ingest(IngestBatch(statuses=[again]))).statuses_applied == 0

    # Back online, the device's own report counts again.
    await storage.ingest(IngestBatch(statuses=[status(True, NOW + 3 * SECOND, 4, 0)]))
    state = await storage.get_ignore_list(anna, device_id)
    assert (state.device_revision, state.device_size) == (4, 0)


async def test_an_episode_id_the_device_used_twice_cannot_be_marked(storage: Storage) -> None:
    """A device whose state folder was wiped numbers its messages from the start again, so an
    episode id can name two cries; the device remembers only the newer sound under it."""
    anna, _ben, device_id = await family(storage)
    await cries(storage, device_id, 2)
    # Wiped: the device's episode 1 again, a day later.
    await storage.ingest(IngestBatch(events=[cry(device_id, 1, T0 + timedelta(days=1))]))
    with pytest.raises(AmbiguousEpisodeError, match="episode number 1 for 2 different cries"):
        await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    assert (await storage.get_ignore_list(anna, device_id)).revision == 0

    # Marked while it named one cry, then used again after a wipe: the mark stays on the cry
    # heard before it, the later one is not shown as marked.
    await storage.mark_not_a_cry(anna, device_id, 2, T0 + timedelta(hours=1))
    await storage.ingest(IngestBatch(events=[cry(device_id, 2, T0 + timedelta(days=2))]))
    episodes = await storage.list_cry_episodes(anna, device_id, None, None, 10)
    marks = [(e.episode_id, e.started_at, e.not_a_cry is not None) for e in episodes]
    assert marks == [
        (2, T0 + timedelta(days=2), False),
        (1, T0 + timedelta(days=1), False),
        (2, T0 + 20 * SECOND, True),
        (1, T0 + 10 * SECOND, False),
    ]
    # Undone from the later cry's alert: refused like a mark (the mark is the first one's);
    # from the list by its id, it goes.
    with pytest.raises(AmbiguousEpisodeError, match="episode number 2 for 2 different cries"):
        await storage.unmark_not_a_cry(anna, device_id, 2, one_episode=True)
    assert [m.episode_id for m in (await storage.get_ignore_list(anna, device_id)).marks] == [2]
    undone = await storage.unmark_not_a_cry(anna, device_id, 2)
    assert undone.marks == []


async def test_any_member_marks_and_nobody_else(storage: Storage) -> None:
    anna, ben, device_id = await family(storage)
    stranger = await storage.create_user(f"{unique('eve')}@example.com", "hash", "Eve")
    _other_owner, _other_ben, other_device = await family(storage)
    await cries(storage, device_id, 2)
    await cries(storage, other_device, 2)

    for attempt in (
        storage.mark_not_a_cry(stranger.id, device_id, 1, NOW),
        storage.unmark_not_a_cry(stranger.id, device_id, 1),
        storage.clear_ignore_list(stranger.id, device_id),
        storage.get_ignore_list(stranger.id, device_id),
        # Anna is no member of the other device: its episode 1 is not hers to mark.
        storage.mark_not_a_cry(anna, other_device, 1, NOW),
        # No such episode; episode ids are per device.
        storage.mark_not_a_cry(anna, device_id, 99, NOW),
        storage.mark_not_a_cry(anna, unique("dev"), 1, NOW),
    ):
        with pytest.raises(NotFoundError) as caught:
            await attempt
        assert caught.value.subject == "device"
    with pytest.raises(NotFoundError):
        await storage.ignore_list_for_device(unique("dev"))

    state = await storage.mark_not_a_cry(ben, device_id, 2, NOW)  # a caregiver may
    assert state == IgnoreListState(device_id, 1, [NotACryMark(device_id, 2, NOW, ben, "Ben")])
    assert await storage.get_ignore_list(anna, device_id) == state
    assert await storage.ignore_list_for_device(device_id) == state
    assert (await storage.ignore_list_for_device(other_device)).marks == []


async def test_only_a_cry_start_can_be_marked(storage: Storage) -> None:
    anna, _ben, device_id = await family(storage)
    # A loud sound and an end without its start are no cry episodes to mark.
    await storage.ingest(IngestBatch(events=[
        cry(device_id, 1, T0, kind="loud_sound"), cry(device_id, 2, T0 + SECOND, kind="cry_ended"),
    ]))  # fmt: skip
    for episode_id in (1, 2):
        with pytest.raises(NotFoundError):
            await storage.mark_not_a_cry(anna, device_id, episode_id, NOW)
    assert (await storage.get_ignore_list(anna, device_id)).revision == 0


async def test_the_revision_moves_only_when_the_list_changes(storage: Storage) -> None:
    anna, ben, device_id = await family(storage)
    await cries(storage, device_id, 3)
    assert await storage.get_ignore_list(anna, device_id) == IgnoreListState(device_id, 0, [])

    first = await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    assert (first.revision, marked(first)) == (1, [1])
    again = await storage.mark_not_a_cry(ben, device_id, 1, NOW + SECOND)
    assert again == first, "marked already: the first mark stays, who and when included"

    both = await storage.mark_not_a_cry(ben, device_id, 3, NOW + SECOND)
    assert (both.revision, marked(both)) == (2, [3, 1]), "newest first"

    undone = await storage.unmark_not_a_cry(anna, device_id, 3)
    assert (undone.revision, marked(undone)) == (3, [1])
    assert await storage.unmark_not_a_cry(anna, device_id, 3) == undone, "not marked: no-op"
    assert await storage.unmark_not_a_cry(anna, device_id, 2) == undone

    await storage.mark_not_a_cry(anna, device_id, 2, NOW + 3 * SECOND)
    cleared = await storage.clear_ignore_list(ben, device_id)
    assert (cleared.revision, cleared.marks) == (5, [])
    # Empty here, but a monitor may hold other marks under revision 5 (a restored database):
    # a clear is always a newer revision, which the monitor takes.
    again = await storage.clear_ignore_list(ben, device_id)
    assert (again.revision, again.marks) == (6, [])


async def test_the_list_keeps_the_newest_marks_the_device_is_sent(storage: Storage) -> None:
    anna, _ben, device_id = await family(storage)
    total = MAX_IGNORE_MARKS + 2
    await cries(storage, device_id, total)
    for episode_id in range(1, total + 1):
        state = await storage.mark_not_a_cry(anna, device_id, episode_id, NOW + episode_id * SECOND)
    assert state.revision == total
    assert marked(state) == list(range(total, 2, -1)), "the two oldest marks fell off"
    episodes = await storage.list_cry_episodes(anna, device_id, None, None, 100)
    assert sorted(e.episode_id for e in episodes if e.not_a_cry is None) == [1, 2]
    # Undoing a mark does not bring back one that fell off.
    fewer = await storage.unmark_not_a_cry(anna, device_id, total)
    assert marked(fewer) == list(range(total - 1, 2, -1))


async def test_episodes_and_the_device_show_the_marks(storage: Storage) -> None:
    anna, ben, device_id = await family(storage)
    await cries(storage, device_id, 2)
    await storage.mark_not_a_cry(ben, device_id, 1, NOW)
    newest, oldest = await storage.list_cry_episodes(anna, device_id, None, None, 10)
    assert (newest.episode_id, newest.not_a_cry) == (2, None)
    assert oldest.not_a_cry == NotACryMark(device_id, 1, NOW, ben, "Ben")

    expected = IgnoreListState(device_id, 1, [NotACryMark(device_id, 1, NOW, ben, "Ben")])
    device = await storage.get_device(anna, device_id)
    assert device is not None
    assert device.ignore_list == expected
    [listed] = await storage.list_devices(ben)
    assert listed.ignore_list == expected


async def test_the_devices_report_of_its_list_is_shown(storage: Storage) -> None:
    anna, _ben, device_id = await family(storage)
    await cries(storage, device_id, 1)
    await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    report = {
        "uptime_s": 5.0, "ignore_list_size": 1, "ignore_list_changed_at": NOW.isoformat(),
        "ignore_list_revision": 1, "ignore_list_unknown": [4],
    }  # fmt: skip
    status = StatusRow(device_id, 0, NOW, NOW, True, "0.1.0", "cry-1", report)
    await storage.ingest(IngestBatch(statuses=[status]))
    state = await storage.get_ignore_list(anna, device_id)
    assert (state.device_size, state.device_changed_at, state.device_revision) == (1, NOW, 1)
    assert state.device_unknown == [4]
    device = await storage.get_device(anna, device_id)
    assert device is not None
    assert device.ignore_list == state


async def test_a_new_family_starts_with_an_empty_list(storage: Storage) -> None:
    anna = await storage.create_user(f"{unique('anna')}@example.com", "hash", "Anna")
    carl = await storage.create_user(f"{unique('carl')}@example.com", "hash", "Carl")
    device_id, code = unique("dev"), unique("code")
    claimed_at = datetime.now(UTC) - timedelta(minutes=5)
    await storage.set_claim_code(device_id, code, claimed_at + timedelta(days=1))
    await storage.claim_device(anna.id, code, claimed_at, "Nursery")
    # Recorded and received after the claim: Anna's.
    await storage.ingest(IngestBatch(events=[cry(device_id, 1, claimed_at + SECOND)]))
    assert (await storage.mark_not_a_cry(anna.id, device_id, 1, NOW)).revision == 1

    await storage.unclaim_device(anna.id, device_id)
    released = await storage.ignore_list_for_device(device_id)
    assert (released.revision, released.marks) == (2, [])

    second = unique("code")
    await storage.set_claim_code(device_id, second, datetime.now(UTC) + timedelta(days=1))
    summary = await storage.claim_device(carl.id, second, datetime.now(UTC), "Carl's")
    assert summary is not None
    assert summary.ignore_list == IgnoreListState(device_id, 2, [])
    # Anna's episode is not Carl's to mark (nor to see).
    with pytest.raises(NotFoundError):
        await storage.mark_not_a_cry(carl.id, device_id, 1, NOW)


async def test_the_operator_handing_a_device_on_empties_its_list(storage: Storage) -> None:
    anna, _ben, device_id = await family(storage)
    await cries(storage, device_id, 1)
    await storage.mark_not_a_cry(anna, device_id, 1, NOW)
    dora = await storage.create_user(f"{unique('dora')}@example.com", "hash", "Dora")
    await storage.register_device(device_id, dora.id)
    handed = await storage.get_ignore_list(dora.id, device_id)
    assert (handed.revision, handed.marks) == (2, [])


async def test_a_sick_upload_is_never_ignored(app_client: TestClient) -> None:
    """The list is the device's: an upload of crying with a fever raises the sick alarm even
    right after the home marked one of its device's cries "not a cry".

    Documentation more than a guard: the upload path never reads the marks (the list lives on
    the device, and a device's ``ignored`` cry is checked against the current marks by the test
    above), so this passes with or without the list. It pins the promise of the spec - a mark
    never hides a sick alert - end to end, should an upload ever consult the marks."""
    api = Api(app_client)
    user_id, headers, _session = api.signup("Anna")
    device_id = api.claimed_device(headers)
    now = datetime.now(UTC) + SECOND
    ingested = api.run(api.storage.ingest, IngestBatch(events=[cry(device_id, 1, now)]))
    [device_alarm] = ingested.alerts
    api.run(api.storage.mark_not_a_cry, user_id, device_id, 1, now)

    response = app_client.post(
        "/health/upload",
        headers=headers,
        data={"temperature": 38.5, "humidity": 55.0},
        files={"audio": ("cry.flac", CRY.read_bytes(), "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["sick_detected"] is True
    alerts = app_client.get("/alerts", headers=headers).json()
    sick = [a for a in alerts if a["id"] != device_alarm.id]
    assert [(a["kind"], a["sick_detected"]) for a in sick] == [("CRY_DETECTED", True)]
