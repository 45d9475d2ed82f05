"""Push subscriptions and push deliveries, on every backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from cloud.storage import Storage
from cloud.storage.push_records import (
    MAX_SUBSCRIPTIONS_PER_USER,
    NewPushSubscription,
    PushClaim,
    PushResult,
)
from cloud.storage.records import AlertDelivery, IngestBatch, StoredAlert
from tests.integration.test_storage_contract import cry, new_device, unique

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def browser(
    user_id: int, endpoint: str | None = None, label: str | None = None
) -> NewPushSubscription:
    return NewPushSubscription(
        user_id=user_id,
        channel="webpush",
        endpoint=endpoint or f"https://push.example/{unique('ep')}",
        p256dh="BP" + "a" * 85,
        auth="c" * 22,
        label=label,
        user_agent="Test/1.0",
    )


async def _alarm(storage: Storage) -> tuple[int, StoredAlert]:
    owner_id, device_id = await new_device(storage)
    (alert,) = (await storage.ingest(IngestBatch(events=[cry(device_id, 1)]))).alerts
    return owner_id, alert


def _claim(alert: StoredAlert, sub_id: int, user_id: int, purpose: str = "alert") -> PushClaim:
    return PushClaim(alert.id, alert.escalation_level, purpose, sub_id, user_id, "webpush")  # type: ignore[arg-type]


async def test_registering_an_endpoint_again_moves_it_to_the_caller(storage: Storage) -> None:
    anna = await storage.create_user(f"{unique('anna')}@example.com", "hash", "Anna")
    ben = await storage.create_user(f"{unique('ben')}@example.com", "hash", "Ben")
    first, created = await storage.register_push_subscription(
        browser(anna.id, label="Anna's phone"), NOW
    )
    assert created
    assert (first.user_id, first.label, first.failures) == (anna.id, "Anna's phone", 0)
    again, created = await storage.register_push_subscription(
        browser(anna.id, first.endpoint), NOW + timedelta(seconds=1)
    )
    assert not created
    assert again.id == first.id
    assert again.label == "Anna's phone", "the same account keeps its label"
    moved, created = await storage.register_push_subscription(
        NewPushSubscription(ben.id, "webpush", first.endpoint, "BPnew", "newauth", None, None),
        NOW + timedelta(seconds=2),
    )
    assert not created
    assert (moved.id, moved.user_id, moved.p256dh, moved.auth) == (
        first.id,
        ben.id,
        "BPnew",
        "newauth",
    )
    assert moved.label is None, "Anna's label does not travel to Ben"
    assert await storage.list_push_subscriptions(anna.id) == []
    assert [s.id for s in await storage.list_push_subscriptions(ben.id)] == [first.id]
    assert not await storage.delete_push_subscription(anna.id, first.id), "not Anna's any more"
    assert await storage.delete_push_subscription(ben.id, first.id)
    assert await storage.list_push_subscriptions(ben.id) == []


async def test_a_user_keeps_at_most_twenty_subscriptions(storage: Storage) -> None:
    user = await storage.create_user(f"{unique('many')}@example.com", "hash", None)
    ids = []
    for index in range(MAX_SUBSCRIPTIONS_PER_USER + 1):
        sub, _ = await storage.register_push_subscription(
            browser(user.id), NOW + timedelta(seconds=index)
        )
        ids.append(sub.id)
    kept = [s.id for s in await storage.list_push_subscriptions(user.id)]
    assert kept == ids[1:], "the oldest went when the 21st registered"


async def test_each_push_is_claimed_once(storage: Storage) -> None:
    owner_id, alert = await _alarm(storage)
    sub, _ = await storage.register_push_subscription(browser(owner_id), NOW)
    gone, _ = await storage.register_push_subscription(browser(owner_id), NOW)
    assert await storage.delete_push_subscription(owner_id, gone.id)
    assert [s.id for s in await storage.push_subscriptions_of([owner_id])] == [sub.id]

    claims = [_claim(alert, sub.id, owner_id), _claim(alert, gone.id, owner_id)]
    racing = await asyncio.gather(
        *(storage.claim_push_deliveries(claims, NOW, NOW + LEASE) for _ in range(3))
    )
    won = [rows for rows in racing if rows]
    assert len(won) == 1, "one caller owns the send; the deleted subscription is skipped"
    (row,) = won[0]
    assert (row.status, row.attempts, row.subscription_id, row.purpose) == (
        "sending",
        1,
        sub.id,
        "alert",
    )
    assert row.next_attempt_at == NOW + LEASE
    # Another level or purpose is another push.
    acknowledged = [_claim(alert, sub.id, owner_id, "acknowledged")]
    assert len(await storage.claim_push_deliveries(acknowledged, NOW, NOW + LEASE)) == 1


async def test_retries_come_due_and_a_dead_senders_lease_passes(storage: Storage) -> None:
    owner_id, alert = await _alarm(storage)
    sub, _ = await storage.register_push_subscription(browser(owner_id), NOW)
    (row,) = await storage.claim_push_deliveries(
        [_claim(alert, sub.id, owner_id)], NOW, NOW + LEASE
    )

    assert (
        await storage.record_push_result(
            PushResult(row.id, 1, "retrying", NOW, NOW + timedelta(seconds=2), 500, "HTTP 500")
        )
        == "retrying"
    )
    soon = NOW + timedelta(seconds=1)
    early = await storage.claim_due_push_deliveries(soon, soon + LEASE, 100)
    assert row.id not in [job.delivery.id for job in early], "not due before its next attempt"
    later = NOW + timedelta(seconds=3)
    (job,) = [
        j
        for j in await storage.claim_due_push_deliveries(later, later + LEASE, 100)
        if j.delivery.id == row.id
    ]
    assert (job.delivery.status, job.delivery.attempts) == ("sending", 2)
    assert job.subscription is not None
    assert job.subscription.id == sub.id
    subscription = (await storage.get_push_subscriptions([sub.id]))[0]
    assert subscription.failures == 1
    assert subscription.last_failure_at == NOW

    # The process sending attempt 2 dies: after the lease another takes it as attempt 3, and
    # attempt 2's late answer is ignored.
    again = later + LEASE + timedelta(seconds=1)
    (retaken,) = [
        j
        for j in await storage.claim_due_push_deliveries(again, again + LEASE, 100)
        if j.delivery.id == row.id
    ]
    assert retaken.delivery.attempts == 3
    assert (
        await storage.record_push_result(PushResult(row.id, 2, "accepted", again, None, 201))
        is None
    )
    assert (
        await storage.record_push_result(PushResult(row.id, 3, "accepted", again, None, 201))
        == "accepted"
    )
    subscription = (await storage.get_push_subscriptions([sub.id]))[0]
    assert (subscription.failures, subscription.last_success_at) == (0, again)
    far = again + timedelta(hours=1)
    assert all(
        j.delivery.id != row.id
        for j in await storage.claim_due_push_deliveries(far, far + LEASE, 100)
    ), "an accepted push is done"


async def test_a_gone_subscription_is_deleted(storage: Storage) -> None:
    owner_id, alert = await _alarm(storage)
    sub, _ = await storage.register_push_subscription(browser(owner_id), NOW)
    (row,) = await storage.claim_push_deliveries(
        [_claim(alert, sub.id, owner_id)], NOW, NOW + LEASE
    )
    assert (
        await storage.record_push_result(
            PushResult(row.id, 1, "expired", NOW, None, 410, "HTTP 410")
        )
        == "expired"
    )
    assert await storage.list_push_subscriptions(owner_id) == []
    records = await storage.list_alert_deliveries(owner_id, alert.id)
    assert records is not None
    (record,) = records
    assert (record.status, record.subscription_id, record.last_status) == ("expired", None, 410)


async def test_acknowledging_cancels_pending_pushes(storage: Storage) -> None:
    owner_id, alert = await _alarm(storage)
    subs = [(await storage.register_push_subscription(browser(owner_id), NOW))[0] for _ in range(3)]
    rows = await storage.claim_push_deliveries(
        [_claim(alert, s.id, owner_id) for s in subs], NOW, NOW + LEASE
    )
    accepted, retrying, in_flight = sorted(rows, key=lambda r: r.id)
    await storage.record_push_result(PushResult(accepted.id, 1, "accepted", NOW, None, 201))
    await storage.record_push_result(
        PushResult(retrying.id, 1, "retrying", NOW, NOW + timedelta(seconds=1), 429)
    )
    after = await storage.cancel_pending_push(alert.id)
    assert {r.id: r.status for r in after} == {
        accepted.id: "accepted",
        retrying.id: "cancelled",
        in_flight.id: "cancelled",
    }
    # The request in flight answers after the cancel: recorded, but the row stays cancelled.
    assert (
        await storage.record_push_result(PushResult(in_flight.id, 1, "accepted", NOW, None, 201))
        == "cancelled"
    )
    far = NOW + timedelta(hours=1)
    assert all(
        j.delivery.alert_id != alert.id
        for j in await storage.claim_due_push_deliveries(far, far + LEASE, 100)
    ), "cancelled rows are never retried"

    # An alarm push claimed after the acknowledgement committed is not sent at all.
    late, _ = await storage.register_push_subscription(browser(owner_id), NOW)
    await storage.acknowledge_alert(owner_id, alert.id, NOW + timedelta(seconds=1))
    assert (
        await storage.claim_push_deliveries([_claim(alert, late.id, owner_id)], NOW, NOW + LEASE)
        == []
    )
    acknowledged = [_claim(alert, late.id, owner_id, "acknowledged")]
    assert len(await storage.claim_push_deliveries(acknowledged, NOW, NOW + LEASE)) == 1

    await storage.acknowledge_push_delivery(alert.id, subs[0].id, NOW + timedelta(seconds=2))
    records = await storage.list_alert_deliveries(owner_id, alert.id)
    assert records is not None
    marked = [r for r in records if r.subscription_id == subs[0].id]
    assert [r.acknowledged_at for r in marked] == [NOW + timedelta(seconds=2)]


async def test_deliveries_of_an_alert_show_sockets_and_pushes_to_its_audience(
    storage: Storage,
) -> None:
    owner_id, alert = await _alarm(storage)
    sub, _ = await storage.register_push_subscription(browser(owner_id), NOW)
    await storage.record_deliveries([AlertDelivery(alert.id, owner_id, 0, NOW)])
    await storage.claim_push_deliveries(
        [_claim(alert, sub.id, owner_id)], NOW + timedelta(seconds=1), NOW + LEASE
    )
    records = await storage.list_alert_deliveries(owner_id, alert.id)
    assert records is not None
    assert [(r.channel, r.status, r.subscription_id, r.user_id) for r in records] == [
        ("websocket", "sent", None, owner_id),
        ("webpush", "sending", sub.id, owner_id),
    ]
    assert records[0].sent_at == NOW
    stranger = await storage.create_user(f"{unique('x')}@example.com", "hash", None)
    assert await storage.list_alert_deliveries(stranger.id, alert.id) is None
    assert await storage.list_alert_deliveries(owner_id, 2**62) is None
    stored = await storage.get_alert(alert.id)
    assert stored is not None
    assert (stored.id, stored.needs_ack) == (alert.id, True)


async def test_a_lease_is_renewed_only_by_its_attempt_and_released_rows_are_due(
    storage: Storage,
) -> None:
    owner_id, alert = await _alarm(storage)
    sub, _ = await storage.register_push_subscription(browser(owner_id), NOW)
    claim = _claim(alert, sub.id, owner_id)
    (row,) = await storage.claim_push_deliveries([claim], NOW, NOW + LEASE)
    assert row.sent_at is None, "claimed, not sent yet"
    sent = NOW + timedelta(seconds=1)
    assert await storage.renew_push_lease(row.id, 1, sent, sent + LEASE)
    assert not await storage.renew_push_lease(row.id, 2, sent, sent + LEASE), "not its attempt"
    records = await storage.list_alert_deliveries(owner_id, alert.id)
    assert records is not None
    assert [r.sent_at for r in records if r.channel == "webpush"] == [sent]
    # Not due before the renewed lease passes; released, due at once.
    # (Other tests' rows may share the database: only this row counts.)
    early = await storage.claim_due_push_deliveries(NOW + LEASE, NOW + 2 * LEASE, 1000)
    assert [j for j in early if j.delivery.id == row.id] == []
    await storage.release_push_leases([(row.id, 1)], NOW + timedelta(seconds=2))
    due = await storage.claim_due_push_deliveries(NOW + timedelta(seconds=2), NOW + LEASE, 1000)
    (job,) = [j for j in due if j.delivery.id == row.id]
    assert job.delivery.attempts == 2


async def test_unpushed_alarms_are_the_recent_unacknowledged_ones_without_a_push(
    storage: Storage,
) -> None:
    owner_id, pushed = await _alarm(storage)
    other_owner, taken = await _alarm(storage)
    _third_owner, missed = await _alarm(storage)
    sub, _ = await storage.register_push_subscription(browser(owner_id), NOW)
    await storage.claim_push_deliveries([_claim(pushed, sub.id, owner_id)], NOW, NOW + LEASE)
    assert await storage.acknowledge_alert(other_owner, taken.id, datetime.now(UTC))
    since = missed.created_at - timedelta(seconds=1)
    found = {a.id for a in await storage.unpushed_alarms(since, 100)}
    assert missed.id in found
    assert pushed.id not in found, "it has a push row at its level"
    assert taken.id not in found, "acknowledged"
    later = {a.id for a in await storage.unpushed_alarms(missed.created_at + timedelta(1), 100)}
    assert missed.id not in later, "older than the window"
