"""The push pipeline against storage on every backend and the local push service
(tests/harness/push_service.py), driven directly: what happens around a restart, a shutdown, a
full send queue and an acknowledgement racing a claim. The API-level scenarios are
tests/integration/test_api_push.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from cloud.push.ack_token import AckTokens
from cloud.push.channel import WebPushChannel, new_push_session
from cloud.push.keys import VapidKeyPair
from cloud.push.outcome import SendOutcome
from cloud.push.payload import PushOptions
from cloud.push.pipeline import LEASE_S, PushPipeline
from cloud.storage import Storage
from cloud.storage.push_records import NewPushSubscription, PushSubscription
from cloud.storage.records import IngestBatch, StoredAlert
from tests.harness.api import API_TEST_SECRET
from tests.harness.push_service import Answer, BrowserSubscription, LocalPushService
from tests.integration.test_storage_contract import cry, new_device

SUBJECT = "mailto:ops@example.org"


@pytest.fixture
def service(vapid_keys: VapidKeyPair) -> Iterator[LocalPushService]:
    with LocalPushService(vapid_keys.public_key) as push_service:
        yield push_service


class FailingFor:
    """A channel whose send raises for one endpoint (a bug), and sends the rest for real."""

    channel = "webpush"

    def __init__(self, real: WebPushChannel, endpoint: str) -> None:
        self._real = real
        self._endpoint = endpoint

    async def send(
        self, subscription: PushSubscription, payload: bytes, options: PushOptions
    ) -> SendOutcome:
        if subscription.endpoint == self._endpoint:
            raise RuntimeError("a bug in a channel")
        return await self._real.send(subscription, payload, options)


@asynccontextmanager
async def running_pipeline(
    storage: Storage,
    keys: VapidKeyPair,
    max_concurrency: int = 64,
    failing_endpoint: str | None = None,
) -> AsyncIterator[PushPipeline]:
    async with new_push_session() as session:
        webpush = WebPushChannel(keys.private_key, SUBJECT, session)
        channel = webpush if failing_endpoint is None else FailingFor(webpush, failing_endpoint)
        pipeline = PushPipeline(
            storage, {"webpush": channel}, AckTokens(API_TEST_SECRET, "HS256"), max_concurrency
        )
        try:
            yield pipeline
        finally:
            await pipeline.close()


async def alarm_with_phones(
    storage: Storage, service: LocalPushService, count: int
) -> tuple[int, StoredAlert, list[BrowserSubscription], list[PushSubscription]]:
    """A device's cry alarm, committed while nothing listened, and ``count`` phones of its
    owner subscribed."""
    owner_id, device_id = await new_device(storage)
    phones = [service.subscribe() for _ in range(count)]
    subs = []
    for phone in phones:
        sub, _ = await storage.register_push_subscription(
            NewPushSubscription(owner_id, "webpush", phone.endpoint, phone.p256dh, phone.auth),
            datetime.now(UTC),
        )
        subs.append(sub)
    (alert,) = (await storage.ingest(IngestBatch(events=[cry(device_id, 1)]))).alerts
    return owner_id, alert, phones, subs


async def push_rows(storage: Storage, owner_id: int, alert_id: int) -> dict[int | None, str]:
    records = await storage.list_alert_deliveries(owner_id, alert_id)
    assert records is not None
    return {r.subscription_id: r.status for r in records if r.channel == "webpush"}


def is_acknowledged(request: object) -> bool:
    payload = getattr(request, "payload", None)
    return payload is not None and payload["type"] == "acknowledged"


async def test_alarms_committed_while_nobody_listened_are_pushed_at_start_once(
    storage: Storage, service: LocalPushService, vapid_keys: VapidKeyPair
) -> None:
    owner_id, alert, (phone,), (sub,) = await alarm_with_phones(storage, service, 1)
    async with running_pipeline(storage, vapid_keys) as first:
        assert await first.catch_up() >= 1
        (request,) = await service.wait_for_accepted_async(phone)
    assert request.payload is not None
    assert request.payload["alert"]["id"] == alert.id
    assert await push_rows(storage, owner_id, alert.id) == {sub.id: "accepted"}
    # Another process starting (or this one again): nothing left to catch up.
    async with running_pipeline(storage, vapid_keys) as second:
        await second.catch_up()
    assert len(service.requests(phone)) == 1


async def test_close_lets_a_request_in_flight_finish_and_releases_rows_not_sent(
    storage: Storage, service: LocalPushService, vapid_keys: VapidKeyPair
) -> None:
    owner_id, alert, phones, subs = await alarm_with_phones(storage, service, 2)
    for phone in phones:
        service.script(phone, Answer(201, delay_s=1.0))
    async with running_pipeline(storage, vapid_keys, max_concurrency=1) as pipeline:
        pipeline.deliver(alert, [owner_id])
        await service.wait_for_async(lambda all_: len(all_) >= 1)
    # Stopped with one request on its way and the other waiting for the one slot.
    (sent,) = service.requests()
    rows = await push_rows(storage, owner_id, alert.id)
    sent_sub = next(s.id for s, p in zip(subs, phones, strict=True) if p.endpoint == sent.endpoint)
    waiting_sub = next(s.id for s in subs if s.id != sent_sub)
    assert rows[sent_sub] == "accepted", "the request in flight was waited for, not cancelled"
    assert rows[waiting_sub] == "sending"
    now = datetime.now(UTC)
    jobs = await storage.claim_due_push_deliveries(now, now + timedelta(seconds=LEASE_S), 100)
    mine = [job.delivery.subscription_id for job in jobs if job.delivery.alert_id == alert.id]
    assert mine == [waiting_sub], "released: due now"


async def test_a_row_taken_over_while_it_waited_for_a_slot_is_not_sent_again(
    storage: Storage, service: LocalPushService, vapid_keys: VapidKeyPair
) -> None:
    owner_id, alert, phones, subs = await alarm_with_phones(storage, service, 2)
    for phone in phones:
        service.script(phone, Answer(201, delay_s=1.0))
    async with running_pipeline(storage, vapid_keys, max_concurrency=1) as pipeline:
        pipeline.deliver(alert, [owner_id])
        (first,) = await service.wait_for_async(lambda all_: len(all_) >= 1)
        # Another process's sweeper, the moment the waiting row's lease (from its claim) has
        # passed, takes it over; the row in flight has a later lease (renewed when it went).
        records = await storage.list_alert_deliveries(owner_id, alert.id)
        assert records is not None
        claimed_at = min(r.created_at for r in records if r.channel == "webpush")
        later = claimed_at + timedelta(seconds=LEASE_S)
        jobs = await storage.claim_due_push_deliveries(
            later, later + timedelta(seconds=LEASE_S), 100
        )
        (taken,) = [j for j in jobs if j.delivery.alert_id == alert.id]
        assert taken.delivery.subscription_id != next(
            s.id for s, p in zip(subs, phones, strict=True) if p.endpoint == first.endpoint
        )
        await service.wait_for_accepted_async(
            next(p for p in phones if p.endpoint == first.endpoint)
        )
        # The slot is free now: a request for the taken-over row would arrive within this.
        await asyncio.sleep(1.0)
    assert taken.delivery.attempts == 2
    other = next(p for p in phones if p.endpoint != first.endpoint)
    assert service.requests(other) == [], "sent by this process too: the phone rings twice"
    assert (await push_rows(storage, owner_id, alert.id))[taken.delivery.subscription_id] == (
        "sending"
    )
    assert {s.id for s in subs} == set(await push_rows(storage, owner_id, alert.id))


async def test_an_alarm_acknowledged_before_its_claim_was_seen_gets_its_follow_up(
    storage: Storage, service: LocalPushService, vapid_keys: VapidKeyPair
) -> None:
    """The acknowledgement's cancel ran before this push's claim was visible (PostgreSQL read
    committed), so nobody announced "acknowledged" for it: the sender does, after acceptance."""
    owner_id, alert, (phone,), _subs = await alarm_with_phones(storage, service, 1)
    service.script(phone, Answer(201, delay_s=0.5))
    async with running_pipeline(storage, vapid_keys) as pipeline:
        pipeline.deliver(alert, [owner_id])
        await service.wait_for_async(lambda all_: len(all_) >= 1)
        # Acknowledged; its announcement is not handed to this pipeline (the race's outcome).
        assert await storage.acknowledge_alert(owner_id, alert.id, datetime.now(UTC))
        (done,) = await service.wait_for_accepted_async(phone, where=is_acknowledged)
    assert done.payload is not None
    assert done.payload["alert"]["id"] == alert.id


async def test_one_send_failing_does_not_leave_the_others_untracked(
    storage: Storage, service: LocalPushService, vapid_keys: VapidKeyPair
) -> None:
    owner_id, alert, (broken, slow), (_broken_sub, slow_sub) = await alarm_with_phones(
        storage, service, 2
    )
    service.script(slow, Answer(201, delay_s=1.0))
    async with running_pipeline(storage, vapid_keys, failing_endpoint=broken.endpoint) as pipeline:
        pipeline.deliver(alert, [owner_id])
        await service.wait_for_async(lambda all_: len(all_) >= 1)
    # close() waited for the slow send: it was still tracked after its sibling failed.
    assert (await push_rows(storage, owner_id, alert.id))[slow_sub.id] == "accepted"
