"""A cry reaches caregivers' locked phones as Web Push, through everything real: a device's
``cry_started`` through Mosquitto, the collector process, PostgreSQL, the ``nursery-cloud api``
process(es) with VAPID configured, and a local push service that checks each request as FCM or
autopush would and decrypts it with the browser subscription's own keys
(tests/harness/push_service.py).

Covered: the encrypted payload and its headers; a 410 removes the subscription; 429 and 500 are
retried until accepted, 403 is not; acknowledging (REST, WebSocket, or ``POST /push/ack`` with
the token from the notification) pushes ``acknowledged`` to the other phones, cancels pending
retries and stops escalation; two API processes on one database send each push exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.push.keys import VapidKeyPair
from models.contract import Event, MessageKind, topic_for
from tests.e2e.test_alarm_escalation import Screen
from tests.e2e.test_alerts_across_api_processes import minted_claim_code
from tests.harness.collector import CollectorProcess
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.push_api import VAPID_SUBJECT, PushApiProcess
from tests.harness.push_service import (
    Answer,
    BrowserSubscription,
    LocalPushService,
    PushRequest,
)
from tests.harness.services import create_account
from tests.harness.waiting import eventually

SECRET = "e2e-push-secret-0123456789-abcdefghijklmnopqrst"
PASSWORD = "testPassword123"
# Long enough that a prompt acknowledgement comes first, short enough to see it not happen.
ESCALATE_AFTER_S = 3.0
# A duplicate push, if any, would have arrived by then (the retry sweeper runs every 0.5 s).
SETTLE_S = 3.0


@dataclass
class Caregiver:
    id: int
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Nursery:
    """A device, its owner and caregivers, and the phones they subscribed for push."""

    device_id: str
    owner: Caregiver
    carers: list[Caregiver]
    mosquitto: MosquittoBroker
    phones: dict[str, tuple[Caregiver, BrowserSubscription, int]] = field(default_factory=dict)
    _seq: int = 0

    def cry(self) -> float:
        """The device publishes a ``cry_started`` (QoS 1, its own broker account); when."""
        self._seq += 1
        account = create_account(self.mosquitto, self.device_id)
        event = Event(device_id=self.device_id, seq=self._seq, ts=datetime.now(UTC),
                      kind="cry_started", episode_id=self._seq, confidence=0.94,
                      sound_dbfs=-28.0)  # fmt: skip
        with probe(self.mosquitto.host, self.mosquitto.port, self.device_id, account.username,
                   account.password) as device:  # fmt: skip
            device.connect(self.mosquitto.host, self.mosquitto.port)
            published = datetime.now(UTC).timestamp()
            assert not device.publish(
                topic_for(self.device_id, MessageKind.EVENT), event.to_json()
            ).is_failure
        return published


async def signup(http: httpx.AsyncClient, api: str, name: str) -> Caregiver:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    registered = await http.post(
        f"{api}/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert registered.status_code == 201, registered.text
    login = await http.post(f"{api}/auth/login", json={"email": email, "password": PASSWORD})
    return Caregiver(int(registered.json()["id"]), name, str(login.json()["access_token"]))


async def nursery(
    http: httpx.AsyncClient,
    apis: list[str],
    database_url: str,
    mosquitto: MosquittoBroker,
    carers: int = 1,
    escalate_after_s: float = 3600.0,
) -> Nursery:
    """The owner on the first API process claims a new device and invites ``carers``
    caregivers (each signed up on the next API process, round robin)."""
    api = apis[0]
    device_id = f"nursery-{uuid.uuid4().hex[:8]}"
    code = minted_claim_code(database_url, device_id)
    owner = await signup(http, api, "Anna")
    claimed = await http.post(
        f"{api}/devices/claim", headers=owner.headers, json={"claim_code": code}
    )
    assert claimed.status_code == 201, claimed.text
    joined = []
    for index in range(carers):
        carer = await signup(http, apis[(index + 1) % len(apis)], f"Carer{index}")
        email = (await http.get(f"{api}/auth/me", headers=carer.headers)).json()["email"]
        invited = await http.post(
            f"{api}/devices/{device_id}/caregivers", headers=owner.headers, json={"email": email}
        )
        assert invited.status_code == 202, invited.text
        joined.append(carer)
    tuned = await http.put(
        f"{api}/devices/{device_id}/settings",
        headers=owner.headers,
        json={"nursery": {"cry_escalate_after_s": escalate_after_s}},
    )
    assert tuned.status_code == 200, tuned.text
    return Nursery(device_id, owner, joined, mosquitto)


async def subscribe_phone(
    http: httpx.AsyncClient,
    api: str,
    push: LocalPushService,
    home: Nursery,
    caregiver: Caregiver,
    label: str,
) -> BrowserSubscription:
    """What the dashboard does: read the server key, subscribe the browser with it, register."""
    config = (await http.get(f"{api}/push/config")).json()
    assert config["enabled"] is True
    assert "webpush" in config["channels"]
    subscription = push.subscribe(application_server_key=config["application_server_key"])
    registered = await http.post(
        f"{api}/push/subscriptions",
        headers=caregiver.headers,
        json={**subscription.to_json(), "label": label},
    )
    assert registered.status_code == 201, registered.text
    shown = registered.json()
    assert shown["channel"] == "webpush"
    assert shown["endpoint_host"] == "127.0.0.1"
    assert shown["label"] == label
    home.phones[label] = (caregiver, subscription, int(shown["id"]))
    return subscription


async def subscriptions(
    http: httpx.AsyncClient, api: str, caregiver: Caregiver
) -> list[dict[str, Any]]:
    response = await http.get(f"{api}/push/subscriptions", headers=caregiver.headers)
    assert response.status_code == 200, response.text
    shown: list[dict[str, Any]] = response.json()
    return shown


def of_type(kind: str) -> Callable[[PushRequest], bool]:
    return lambda request: request.payload is not None and request.payload.get("type") == kind


async def deliveries(
    http: httpx.AsyncClient, api: str, caregiver: Caregiver, alert_id: int
) -> list[dict[str, Any]]:
    response = await http.get(f"{api}/alerts/{alert_id}/deliveries", headers=caregiver.headers)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def webpush_row(
    http: httpx.AsyncClient,
    api: str,
    caregiver: Caregiver,
    alert_id: int,
    subscription_id: int,
    done: Callable[[dict[str, Any]], bool],
    purpose: str = "alert",
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """The subscription's delivery row of the alert, once ``done`` holds for it."""

    async def probe_row() -> dict[str, Any]:
        for row in await deliveries(http, api, caregiver, alert_id):
            if (row["channel"], row["subscription_id"], row["purpose"]) == (
                "webpush", subscription_id, purpose,
            ) and done(row):  # fmt: skip
                return row
        return {}

    try:
        return await eventually(probe_row, timeout_s)
    except TimeoutError:
        rows = await deliveries(http, api, caregiver, alert_id)
        raise AssertionError(
            f"no such delivery row of subscription {subscription_id}: {rows}"
        ) from None


@contextmanager
def start_apis(
    count: int, database_url: str, keys: VapidKeyPair, tmp_path: Path
) -> Iterator[list[PushApiProcess]]:
    apis = [
        PushApiProcess(database_url, SECRET, keys, tmp_path / f"api-{index}.log")
        for index in range(count)
    ]
    try:
        yield [api.wait_ready() for api in apis]
    finally:
        for api in apis:
            assert api.stop_cleanly(), api.output()


@pytest.fixture
def push_api(database_url: str, vapid_keys: VapidKeyPair, tmp_path: Path) -> Iterator[str]:
    with start_apis(1, database_url, vapid_keys, tmp_path) as apis:
        yield apis[0].url


@pytest.fixture
def two_push_apis(
    database_url: str, vapid_keys: VapidKeyPair, tmp_path: Path
) -> Iterator[list[str]]:
    with start_apis(2, database_url, vapid_keys, tmp_path) as apis:
        yield [api.url for api in apis]


@pytest.fixture
def collector(
    database_url: str,
    start_collector: Callable[..., CollectorProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> CollectorProcess:
    monkeypatch.setenv("NURSERY_COLLECTOR_ESCALATION_CHECK_MS", "200")
    return start_collector(database_url, f"e2e-push-{uuid.uuid4().hex[:8]}", "")


@pytest.mark.slow
async def test_a_device_cry_reaches_each_subscribed_phone_as_an_encrypted_push(
    database_url: str,
    mosquitto: MosquittoBroker,
    collector: CollectorProcess,
    push_api: str,
    push_service: LocalPushService,
    vapid_keys: VapidKeyPair,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        home = await nursery(http, [push_api], database_url, mosquitto)
        carer = home.carers[0]
        config = (await http.get(f"{push_api}/push/config")).json()
        assert config["application_server_key"] == vapid_keys.public_key
        anna_phone = await subscribe_phone(http, push_api, push_service, home, home.owner, "A")
        carer_phone = await subscribe_phone(http, push_api, push_service, home, carer, "C")

        published = home.cry()
        [alarm] = await push_service.wait_for_accepted_async(anna_phone, timeout_s=20)
        [carers] = await push_service.wait_for_accepted_async(carer_phone, timeout_s=10)
        assert alarm.received_at - published < 5, "pushed promptly after the device's publish"
        listed = (
            await http.get(f"{push_api}/alerts?kind=CRY_DETECTED", headers=home.owner.headers)
        ).json()
        alert_id = int(listed[0]["id"])

        payload = alarm.payload
        assert payload is not None
        assert payload["v"] == 1
        assert payload["type"] == "alert"
        assert payload["tag"] == f"alert-{alert_id}"
        assert payload["title"] == "Baby is crying"
        assert isinstance(payload["body"], str)
        assert payload["body"]
        assert payload["url"] == f"/?alert={alert_id}"
        alert = payload["alert"]
        assert alert["id"] == alert_id
        assert alert["kind"] == "CRY_DETECTED"
        assert alert["device_id"] == home.device_id
        assert alert["needs_ack"] is True
        assert alert["sick_detected"] is False
        assert alert["escalation_level"] == 0
        assert datetime.fromisoformat(alert["time"]).tzinfo is not None
        assert payload["ack"]["url"] == "/push/ack"
        assert payload["ack"]["token"].count(".") == 2, "a JWT"
        assert carers.payload is not None
        assert carers.payload["alert"] == alert
        assert carers.payload["ack"]["token"] != payload["ack"]["token"], "each phone its own"

        # RFC 8030 headers: an alarm is urgent, lives 15 minutes, and is replaceable by its ack.
        assert (alarm.ttl, alarm.urgency, alarm.topic) == (900, "high", f"alert-{alert_id}")
        # RFC 8292: signed by the configured key for this push service, with the subject.
        assert alarm.claims is not None
        assert alarm.claims["aud"] == push_service.origin
        assert alarm.claims["sub"] == VAPID_SUBJECT
        assert push_service.rejected() == []

        for caregiver, subscription, subscription_id in home.phones.values():
            row = await webpush_row(http, push_api, home.owner, alert_id, subscription_id,
                                    lambda r: r["status"] == "accepted")  # fmt: skip
            assert row["user_id"] == caregiver.id
            assert row["escalation_level"] == 0
            assert row["attempts"] == 1
            assert row["last_status"] == 201
            assert row["accepted_at"] is not None
            assert row["acknowledged_at"] is None
            assert len(push_service.requests(subscription)) == 1


@pytest.mark.slow
async def test_a_gone_subscription_is_removed(
    database_url: str,
    mosquitto: MosquittoBroker,
    collector: CollectorProcess,
    push_api: str,
    push_service: LocalPushService,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        home = await nursery(http, [push_api], database_url, mosquitto, carers=0)
        old = await subscribe_phone(http, push_api, push_service, home, home.owner, "old")
        new = await subscribe_phone(http, push_api, push_service, home, home.owner, "new")
        push_service.script(old, Answer.gone())
        listed = await subscriptions(http, push_api, home.owner)
        assert {s["id"] for s in listed} == {home.phones["old"][2], home.phones["new"][2]}

        home.cry()
        [accepted] = await push_service.wait_for_accepted_async(new, timeout_s=20)
        await push_service.wait_for_async(
            lambda all_: any(r.endpoint == old.endpoint and r.status == 410 for r in all_)
        )
        assert accepted.payload is not None
        alert_id = int(accepted.payload["alert"]["id"])

        async def remaining() -> list[dict[str, Any]]:
            shown = await subscriptions(http, push_api, home.owner)
            return shown if len(shown) == 1 else []

        [kept] = await eventually(remaining, 10)
        assert kept["id"] == home.phones["new"][2]
        # The row outlives its subscription (subscription_id set null): the history stays.
        rows = [r for r in await deliveries(http, push_api, home.owner, alert_id)
                if r["channel"] == "webpush"]  # fmt: skip
        statuses = sorted((r["status"], r["last_status"], r["attempts"]) for r in rows)
        assert statuses == [("accepted", 201, 1), ("expired", 410, 1)], rows
        await asyncio.sleep(SETTLE_S)
        assert len(push_service.requests(old)) == 1, "never retried"


@pytest.mark.slow
async def test_throttled_and_failing_push_services_are_retried_until_accepted(
    database_url: str,
    mosquitto: MosquittoBroker,
    collector: CollectorProcess,
    push_api: str,
    push_service: LocalPushService,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        home = await nursery(http, [push_api], database_url, mosquitto, carers=0)
        throttled = await subscribe_phone(http, push_api, push_service, home, home.owner, "429")
        failing = await subscribe_phone(http, push_api, push_service, home, home.owner, "500")
        refused = await subscribe_phone(http, push_api, push_service, home, home.owner, "403")
        push_service.script(throttled, Answer.too_many(retry_after_s=2))
        push_service.script(failing, Answer.server_error())
        push_service.script(refused, Answer(403))

        home.cry()
        [late] = await push_service.wait_for_accepted_async(throttled, timeout_s=30)
        await push_service.wait_for_accepted_async(failing, timeout_s=30)
        assert late.payload is not None
        alert_id = int(late.payload["alert"]["id"])

        first, second = push_service.requests(throttled)
        assert (first.status, second.status) == (429, 201)
        assert second.received_monotonic - first.received_monotonic >= 2.0, "Retry-After held"
        first, second = push_service.requests(failing)
        assert (first.status, second.status) == (500, 201)
        assert second.received_monotonic - first.received_monotonic >= 0.9, "backed off"
        assert first.payload is not None
        assert second.payload is not None
        assert second.payload["alert"] == first.payload["alert"], "the same message again"

        for label in ("429", "500"):
            row = await webpush_row(http, push_api, home.owner, alert_id, home.phones[label][2],
                                    lambda r: r["status"] == "accepted")  # fmt: skip
            assert row["attempts"] == 2
            assert row["last_status"] == 201
            assert row["accepted_at"] is not None
        row = await webpush_row(http, push_api, home.owner, alert_id, home.phones["403"][2],
                                lambda r: r["status"] == "failed")  # fmt: skip
        assert (row["attempts"], row["last_status"]) == (1, 403)
        await asyncio.sleep(SETTLE_S)
        assert len(push_service.requests(refused)) == 1, "a 403 is not retried"
        listed = await subscriptions(http, push_api, home.owner)
        assert len(listed) == 3, "only 404/410 remove a subscription"


@pytest.mark.slow
async def test_an_unanswered_alarm_is_pushed_again_escalated(
    database_url: str,
    mosquitto: MosquittoBroker,
    collector: CollectorProcess,
    push_api: str,
    push_service: LocalPushService,
) -> None:
    """Nobody acknowledges: after the nursery's time the alarm is pushed again at level 1 to its
    targets (the owner and the next caregiver), as a new message under the same topic."""
    async with httpx.AsyncClient(timeout=30) as http:
        home = await nursery(http, [push_api], database_url, mosquitto,
                             escalate_after_s=ESCALATE_AFTER_S)  # fmt: skip
        carer = home.carers[0]
        anna = await subscribe_phone(http, push_api, push_service, home, home.owner, "anna")
        carers = await subscribe_phone(http, push_api, push_service, home, carer, "carer")
        home.cry()
        [first] = await push_service.wait_for_accepted_async(anna, timeout_s=20)

        def escalated(request: PushRequest) -> bool:
            return of_type("alert")(request) and bool(
                request.payload and request.payload["alert"]["escalation_level"] == 1
            )

        for phone in (anna, carers):
            [again] = await push_service.wait_for_accepted_async(
                phone, where=escalated, timeout_s=ESCALATE_AFTER_S + 10
            )
            assert again.payload is not None
            assert again.payload["title"] == "Still unanswered: Baby is crying"
            assert again.payload["ack"]["token"]
            assert again.topic == first.topic
            assert again.received_monotonic - first.received_monotonic >= ESCALATE_AFTER_S - 0.5
        assert first.payload is not None
        alert_id = int(first.payload["alert"]["id"])
        for label in ("anna", "carer"):
            rows = [
                r
                for r in await deliveries(http, push_api, home.owner, alert_id)
                if (r["channel"], r["subscription_id"]) == ("webpush", home.phones[label][2])
            ]
            assert sorted(r["escalation_level"] for r in rows) == [0, 1], rows


@pytest.mark.slow
@pytest.mark.parametrize("how", ["rest", "websocket"])
async def test_an_acknowledgement_on_one_phone_is_pushed_to_the_others_and_stops_escalation(
    database_url: str,
    mosquitto: MosquittoBroker,
    collector: CollectorProcess,
    push_api: str,
    push_service: LocalPushService,
    how: str,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        home = await nursery(http, [push_api], database_url, mosquitto,
                             escalate_after_s=ESCALATE_AFTER_S)  # fmt: skip
        carer = home.carers[0]
        anna = await subscribe_phone(http, push_api, push_service, home, home.owner, "anna")
        carers = await subscribe_phone(http, push_api, push_service, home, carer, "carer")
        # The carer's tablet is behind a throttled push service: its alarm waits for a retry
        # when the acknowledgement comes, due while this test still watches, and must then
        # never be sent.
        tablet = await subscribe_phone(http, push_api, push_service, home, carer, "tablet")
        push_service.script(tablet, Answer.too_many(retry_after_s=3))
        ws = push_api.replace("http://", "ws://")
        screen = Screen(f"{ws}/ws/{carer.id}?token={carer.token}")
        listener = asyncio.create_task(screen.run())
        try:
            await asyncio.wait_for(screen.ready.wait(), 10)
            home.cry()
            [alarm] = await push_service.wait_for_accepted_async(anna, timeout_s=20)
            await push_service.wait_for_accepted_async(carers, timeout_s=10)
            await push_service.wait_for_async(
                lambda all_: any(r.endpoint == tablet.endpoint for r in all_)
            )
            assert alarm.payload is not None
            alert_id = int(alarm.payload["alert"]["id"])

            if how == "rest":
                taken = await http.post(f"{push_api}/alerts/{alert_id}/ack", headers=carer.headers)
                assert taken.status_code == 200, taken.text
            else:
                await screen.acknowledge(alert_id)

            [ack] = await push_service.wait_for_accepted_async(
                anna, where=of_type("acknowledged"), timeout_s=10
            )
            await push_service.wait_for_accepted_async(
                carers, where=of_type("acknowledged"), timeout_s=10
            )
            assert ack.payload is not None
            assert ack.payload["v"] == 1
            assert ack.payload["tag"] == f"alert-{alert_id}", "replaces the alarm's notification"
            assert ack.payload["title"] == "Acknowledged"
            assert carer.name in ack.payload["body"]
            assert ack.payload["alert"]["id"] == alert_id
            assert "ack" not in ack.payload, "nothing left to acknowledge"
            assert ack.payload["url"] == f"/?alert={alert_id}"
            assert (ack.urgency, ack.topic) == ("high", f"alert-{alert_id}")

            await asyncio.sleep(ESCALATE_AFTER_S + 1.5)  # past the time it would escalate
            escalated = [r for r in push_service.requests()
                         if r.payload and r.payload["alert"]["escalation_level"] > 0]  # fmt: skip
            assert escalated == [], "escalation stopped with the acknowledgement"
            assert [r.status for r in push_service.requests(tablet) if of_type("alert")(r)] == [
                429
            ], "the pending retry was cancelled"
            assert len(push_service.accepted(anna)) == 2
            await webpush_row(http, push_api, carer, alert_id, home.phones["tablet"][2],
                              lambda r: r["status"] == "cancelled")  # fmt: skip
            steps = (await http.get(f"{push_api}/alerts/{alert_id}/transitions",
                                    headers=home.owner.headers)).json()  # fmt: skip
            assert [s["transition"] for s in steps] == ["raised", "acknowledged"]
            assert push_service.rejected() == []
        finally:
            listener.cancel()


@pytest.mark.slow
async def test_the_token_in_the_notification_acknowledges_the_alarm(
    database_url: str,
    mosquitto: MosquittoBroker,
    collector: CollectorProcess,
    push_api: str,
    push_service: LocalPushService,
) -> None:
    """The service worker's "Acknowledge" action: ``POST /push/ack`` with the payload's token,
    no Authorization header."""
    async with httpx.AsyncClient(timeout=30) as http:
        home = await nursery(http, [push_api], database_url, mosquitto)
        carer = home.carers[0]
        anna = await subscribe_phone(http, push_api, push_service, home, home.owner, "anna")
        carers = await subscribe_phone(http, push_api, push_service, home, carer, "carer")
        ws = push_api.replace("http://", "ws://")
        screen = Screen(f"{ws}/ws/{carer.id}?token={carer.token}")
        listener = asyncio.create_task(screen.run())
        try:
            await asyncio.wait_for(screen.ready.wait(), 10)
            home.cry()
            [alarm] = await push_service.wait_for_accepted_async(anna, timeout_s=20)
            assert alarm.payload is not None
            alert_id = int(alarm.payload["alert"]["id"])
            token = str(alarm.payload["ack"]["token"])

            forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
            refused = await http.post(f"{push_api}/push/ack", json={"token": forged})
            assert refused.status_code == 401, refused.text
            assert not screen.of("ALERT_ACKNOWLEDGED")

            taken = await http.post(f"{push_api}/push/ack", json={"token": token})
            assert taken.status_code == 200, taken.text
            assert taken.json()["id"] == alert_id
            assert taken.json()["acknowledged_by"] == home.owner.id
            assert taken.json()["acknowledged_at"] is not None

            async def acknowledged() -> list[dict[str, Any]]:
                return screen.of("ALERT_ACKNOWLEDGED")

            [told] = await eventually(acknowledged, 10)
            assert told["alert_id"] == alert_id
            assert told["data"]["acknowledged_by"] == home.owner.id
            [ack] = await push_service.wait_for_accepted_async(
                carers, where=of_type("acknowledged"), timeout_s=10
            )
            assert ack.payload is not None
            assert home.owner.name in ack.payload["body"]

            mine = await webpush_row(http, push_api, home.owner, alert_id, home.phones["anna"][2],
                                     lambda r: r["acknowledged_at"] is not None)  # fmt: skip
            assert mine["status"] == "accepted"
            theirs = await webpush_row(http, push_api, carer, alert_id, home.phones["carer"][2],
                                       lambda r: r["status"] == "accepted")  # fmt: skip
            assert theirs["acknowledged_at"] is None, "acknowledged from the other phone"
        finally:
            listener.cancel()


@pytest.mark.slow
async def test_two_api_processes_send_each_push_exactly_once(
    database_url: str,
    mosquitto: MosquittoBroker,
    collector: CollectorProcess,
    two_push_apis: list[str],
    push_service: LocalPushService,
) -> None:
    first, second = two_push_apis
    async with httpx.AsyncClient(timeout=30) as http:
        home = await nursery(http, two_push_apis, database_url, mosquitto)
        carer = home.carers[0]
        anna = await subscribe_phone(http, first, push_service, home, home.owner, "anna")
        carers = await subscribe_phone(http, second, push_service, home, carer, "carer")

        home.cry()
        [alarm] = await push_service.wait_for_accepted_async(anna, timeout_s=20)
        await push_service.wait_for_accepted_async(carers, timeout_s=10)
        await asyncio.sleep(SETTLE_S)
        for phone in (anna, carers):
            assert len(push_service.requests(phone)) == 1, push_service.requests(phone)
        assert alarm.payload is not None
        alert_id = int(alarm.payload["alert"]["id"])

        taken = await http.post(f"{second}/alerts/{alert_id}/ack", headers=carer.headers)
        assert taken.status_code == 200, taken.text
        for phone in (anna, carers):
            await push_service.wait_for_accepted_async(
                phone, where=of_type("acknowledged"), timeout_s=10
            )
        await asyncio.sleep(SETTLE_S)
        for phone in (anna, carers):
            kinds = [r.payload["type"] for r in push_service.requests(phone) if r.payload]
            assert kinds == ["alert", "acknowledged"], kinds
        rows = [r for r in await deliveries(http, first, home.owner, alert_id)
                if r["channel"] == "webpush"]  # fmt: skip
        assert sorted((r["subscription_id"], r["purpose"]) for r in rows) == sorted(
            (home.phones[label][2], purpose)
            for label in ("anna", "carer")
            for purpose in ("alert", "acknowledged")
        ), rows
        assert push_service.rejected() == []
