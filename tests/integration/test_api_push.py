"""The push endpoints and the push pipeline in the API process, on every backend, against a
local push service that checks VAPID and decrypts like a real one
(tests/harness/push_service.py). The end-to-end scenarios (device -> collector -> API
processes -> phones) are tests/e2e/test_push_alerts.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.config import ApiSettings
from cloud.push.ack_token import AckTokens
from cloud.push.keys import VapidKeyPair
from cloud.push.pipeline import PushPipeline
from cloud.push.settings import PushSettings
from cloud.storage.push_records import PushClaim
from cloud.storage.records import EventRow, IngestBatch, StoredAlert
from tests.harness.api import API_TEST_SECRET, Api
from tests.harness.push_service import Answer, BrowserSubscription, LocalPushService
from tests.integration.conftest import BACKENDS, backend_url

SUBJECT = "mailto:ops@example.org"


@pytest.fixture(params=BACKENDS)
def push_api(
    request: pytest.FixtureRequest, tmp_path: Path, vapid_keys: VapidKeyPair
) -> Iterator[Api]:
    """The API in-process with push configured towards 127.0.0.1 over http (tests only)."""
    url = backend_url(request, request.param, tmp_path / "api.db")
    push = PushSettings(
        vapid_private_key=vapid_keys.private_key,
        vapid_subject=SUBJECT,
        endpoint_hosts=("127.0.0.1",),
        allow_http=True,
    )
    settings = ApiSettings(
        database_url=url, jwt_secret=API_TEST_SECRET, upload_dir=str(tmp_path / "up"), push=push
    )
    with TestClient(create_app(settings)) as client:
        yield Api(client)


def register(api: Api, headers: dict[str, str], browser: BrowserSubscription, **extra: Any) -> Any:
    return api.client.post(
        "/push/subscriptions", headers=headers, json={**browser.to_json(), **extra}
    )


def device_alarm(api: Api, device_id: str, seq: int = 1) -> StoredAlert:
    """A cry from the device now (its claim period), committed as the collector would, which
    announces it to the API."""
    now = datetime.now(UTC)
    event = EventRow(device_id, seq, now, now, "cry_started", seq, 0.93, -30.0, None, raw=b"{}")
    (alert,) = api.run(api.storage.ingest, IngestBatch(events=[event])).alerts
    return alert  # type: ignore[no-any-return]


def settled_deliveries(
    api: Api, alert_id: int, headers: dict[str, str], timeout_s: float = 5.0
) -> list[dict[str, Any]]:
    """``GET /alerts/{id}/deliveries`` once no push is being sent: the push service records a
    request before it answers, so the sender records the answer a moment after a test saw it."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = api.client.get(f"/alerts/{alert_id}/deliveries", headers=headers)
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()
        if all(r["status"] != "sending" for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


# --- configuration ---------------------------------------------------------------------------


def test_push_config_gives_the_key_to_subscribe_with(
    push_api: Api, vapid_keys: VapidKeyPair
) -> None:
    answer = push_api.client.get("/push/config")
    assert answer.status_code == 200
    assert answer.json() == {
        "enabled": True,
        "application_server_key": vapid_keys.public_key,
        "channels": ["webpush"],
    }


def test_without_a_vapid_key_push_is_off_and_registering_is_refused(
    app_client: TestClient, push_service: LocalPushService
) -> None:
    api = Api(app_client)
    assert app_client.get("/push/config").json() == {
        "enabled": False,
        "application_server_key": None,
        "channels": [],
    }
    _user, headers, _session = api.signup("Anna")
    answer = register(api, headers, push_service.subscribe())
    assert answer.status_code == 409
    assert "NURSERY_VAPID_PRIVATE_KEY" in answer.json()["detail"]


# --- subscriptions ---------------------------------------------------------------------------


def test_subscriptions_are_the_callers_and_move_with_the_browser(
    push_api: Api, push_service: LocalPushService
) -> None:
    browser = push_service.subscribe()
    assert register(push_api, {}, browser).status_code == 401
    anna, anna_headers, _ = push_api.signup("Anna")
    ben, ben_headers, _ = push_api.signup("Ben")

    created = register(push_api, anna_headers, browser, label="Anna's phone")
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["channel"] == "webpush"
    assert first["endpoint_host"] == "127.0.0.1"
    assert first["label"] == "Anna's phone"
    assert (first["failures"], first["last_success_at"]) == (0, None)
    assert "endpoint" not in first, "the endpoint URL is a capability: never echoed"

    again = register(push_api, anna_headers, browser)
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]

    listed = push_api.client.get("/push/subscriptions", headers=anna_headers)
    assert [s["id"] for s in listed.json()] == [first["id"]]
    assert push_api.client.get("/push/subscriptions", headers=ben_headers).json() == []

    # Ben signs in on the same browser profile: the endpoint is his now.
    moved = register(push_api, ben_headers, browser)
    assert moved.status_code == 200
    assert moved.json()["id"] == first["id"]
    assert moved.json()["label"] is None
    assert push_api.client.get("/push/subscriptions", headers=anna_headers).json() == []

    path = f"/push/subscriptions/{first['id']}"
    assert push_api.client.delete(path, headers=anna_headers).status_code == 404
    assert push_api.client.delete(path, headers=ben_headers).status_code == 204
    assert push_api.client.delete(path, headers=ben_headers).status_code == 404
    assert push_api.client.get("/push/subscriptions", headers=ben_headers).json() == []
    assert anna != ben


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"endpoint": "https://push.evil.example/x"}, "not a push service this server sends to"),
        ({"endpoint": "ftp://127.0.0.1/x"}, "https"),
        ({"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "p256dh"),
        ({"keys": {"auth": "AAAA"}}, "auth must be 16 bytes"),
        ({"channel": "fcm"}, "not available yet on this server"),
        ({"channel": "apns"}, "not available yet on this server"),
    ],
)
def test_a_subscription_that_cannot_be_used_is_refused_with_the_reason(
    push_api: Api, push_service: LocalPushService, change: dict[str, Any], reason: str
) -> None:
    _user, headers, _ = push_api.signup("Anna")
    body = push_service.subscribe().to_json()
    body = {**body, **change, "keys": {**body["keys"], **change.get("keys", {})}}
    answer = push_api.client.post("/push/subscriptions", headers=headers, json=body)
    assert answer.status_code == 422, answer.text
    assert reason in json.dumps(answer.json())
    assert push_api.client.get("/push/subscriptions", headers=headers).json() == []


def test_an_unknown_channel_is_refused_by_the_schema(
    push_api: Api, push_service: LocalPushService
) -> None:
    _user, headers, _ = push_api.signup("Anna")
    answer = register(push_api, headers, push_service.subscribe(), channel="carrier-pigeon")
    assert answer.status_code == 422


# --- the pipeline ----------------------------------------------------------------------------


def test_a_device_alarm_reaches_the_phone_encrypted_and_its_action_acknowledges_it(
    push_api: Api, push_service: LocalPushService, vapid_keys: VapidKeyPair
) -> None:
    owner, headers, _ = push_api.signup("Anna")
    device_id = push_api.claimed_device(headers)
    phone = push_service.subscribe()
    sub_id = register(push_api, headers, phone, label="Anna's phone").json()["id"]

    alert = device_alarm(push_api, device_id)
    (request,) = push_service.wait_for_accepted(phone)
    assert request.claims is not None
    assert request.claims["sub"] == SUBJECT
    assert (request.ttl, request.urgency, request.topic) == (900, "high", f"alert-{alert.id}")
    payload = request.payload
    assert payload is not None
    assert payload["v"] == 1
    assert payload["type"] == "alert"
    assert payload["tag"] == f"alert-{alert.id}"
    assert payload["title"] == "Baby is crying"
    assert payload["url"] == f"/?alert={alert.id}"
    assert payload["alert"]["id"] == alert.id
    assert payload["alert"]["device_id"] == device_id
    assert payload["alert"]["needs_ack"] is True
    assert payload["ack"]["url"] == "/push/ack"
    grant = AckTokens(API_TEST_SECRET, "HS256").verify(payload["ack"]["token"])
    assert (grant.user_id, grant.alert_id, grant.subscription_id) == (owner, alert.id, sub_id)

    deliveries = settled_deliveries(push_api, alert.id, headers)
    (pushed,) = [d for d in deliveries if d["channel"] == "webpush"]
    assert pushed["status"] == "accepted"
    assert (pushed["subscription_id"], pushed["user_id"]) == (sub_id, owner)
    assert (pushed["purpose"], pushed["attempts"], pushed["last_status"]) == ("alert", 1, 201)

    # "Acknowledge" on the notification: the service worker posts the token, no Authorization.
    taken = push_api.client.post("/push/ack", json={"token": payload["ack"]["token"]})
    assert taken.status_code == 200, taken.text
    assert taken.json()["id"] == alert.id
    assert taken.json()["acknowledged_by"] == owner
    assert taken.json()["acknowledged_at"] is not None
    assert "X-Acknowledged-By-Name" not in taken.headers, "taken by the token's user"
    # The phone's notification becomes "Acknowledged".
    (done,) = push_service.wait_for_accepted(
        phone, where=lambda r: r.payload is not None and r.payload["type"] == "acknowledged"
    )
    assert done.payload is not None
    assert done.payload["title"] == "Acknowledged"
    assert done.payload["body"].startswith("Anna took it")
    assert "ack" not in done.payload
    assert (done.urgency, done.topic) == ("high", f"alert-{alert.id}")
    rows = settled_deliveries(push_api, alert.id, headers)
    marked = [r for r in rows if r["channel"] == "webpush" and r["purpose"] == "alert"]
    assert marked[0]["acknowledged_at"] is not None, "acknowledged from this notification"
    assert {r["purpose"] for r in rows if r["channel"] == "webpush"} == {"alert", "acknowledged"}


def test_a_throttled_push_is_retried_and_a_gone_subscription_removed(
    push_api: Api, push_service: LocalPushService
) -> None:
    _owner, headers, _ = push_api.signup("Anna")
    device_id = push_api.claimed_device(headers)
    busy, gone = push_service.subscribe(), push_service.subscribe()
    push_service.script(busy, Answer.too_many(1), Answer.server_error())
    busy_id = register(push_api, headers, busy).json()["id"]
    register(push_api, headers, gone)
    push_service.unsubscribe(gone)

    started = time.monotonic()
    alert = device_alarm(push_api, device_id)
    push_service.wait_for_accepted(busy, timeout_s=15)
    # Retry-After 1 s, then the backoff's 2 s after the 500.
    assert time.monotonic() - started >= 2.5
    assert [r.status for r in push_service.requests(busy)] == [429, 500, 201]
    ttls = [r.ttl for r in push_service.requests(busy)]
    assert ttls[0] == 900
    assert ttls[2] is not None
    assert ttls[2] <= 897, "a retry carries what is left of the TTL"
    rows = settled_deliveries(push_api, alert.id, headers)
    (retried,) = [r for r in rows if r["subscription_id"] == busy_id]
    assert (retried["status"], retried["attempts"], retried["last_status"]) == ("accepted", 3, 201)
    (expired,) = [r for r in rows if r["channel"] == "webpush" and r["status"] == "expired"]
    assert (expired["last_status"], expired["subscription_id"]) == (410, None)
    listed = push_api.client.get("/push/subscriptions", headers=headers).json()
    assert [s["id"] for s in listed] == [busy_id], "the gone subscription was deleted"
    assert listed[0]["failures"] == 0
    assert listed[0]["last_success_at"] is not None


# --- acknowledging from the notification, and who sees deliveries -----------------------------


def ack(api: Api, token: str) -> Any:
    """ "Acknowledge" on a notification: the token alone, no Authorization."""
    return api.client.post("/push/ack", json={"token": token})


def test_the_acknowledge_token_is_checked(push_api: Api, push_service: LocalPushService) -> None:
    owner, headers, _ = push_api.signup("Anna")
    stranger, stranger_headers, _ = push_api.signup("Eve")
    device_id = push_api.claimed_device(headers)
    sub_id = register(push_api, headers, push_service.subscribe()).json()["id"]
    eves = register(push_api, stranger_headers, push_service.subscribe()).json()["id"]
    alert = device_alarm(push_api, device_id)
    tokens = AckTokens(API_TEST_SECRET, "HS256")
    generations = push_api.run(push_api.storage.session_generations, [owner, stranger])

    def token(user: int, subscription: int, **extra: Any) -> str:
        return tokens.issue(
            user_id=user, alert_id=alert.id, subscription_id=subscription,
            generation=generations[user], **extra,
        )  # fmt: skip

    assert ack(push_api, "not-a-token").status_code == 401
    forged = AckTokens("another-secret-0123456789-abcdefghijklmnop", "HS256").issue(
        user_id=owner, alert_id=alert.id, subscription_id=sub_id, generation=generations[owner]
    )
    assert "signature" in ack(push_api, forged).json()["detail"]
    expired = token(owner, sub_id, now=datetime(2020, 1, 1, tzinfo=UTC))
    assert "expired" in ack(push_api, expired).json()["detail"]
    # An access token is not an acknowledge token.
    access = headers["Authorization"].removeprefix("Bearer ")
    assert "not an acknowledge token" in ack(push_api, access).json()["detail"]
    # Someone who cannot see the alert, from their own phone: 404, as POST /alerts/{id}/ack.
    assert ack(push_api, token(stranger, eves)).status_code == 404
    # A token naming a subscription that is not its user's.
    refused = ack(push_api, token(owner, eves))
    assert refused.status_code == 401
    assert "another account" in refused.json()["detail"]
    assert ack(push_api, token(owner, 2**40)).status_code == 401

    valid = token(owner, sub_id)
    # Logging out everywhere revokes it.
    assert push_api.client.post("/auth/logout-all", headers=headers).status_code == 204
    revoked = ack(push_api, valid)
    assert revoked.status_code == 401
    assert "sign-in has ended" in revoked.json()["detail"]
    assert push_api.run(push_api.storage.get_alert, alert.id).acknowledged_at is None


def test_a_notification_whose_subscription_was_removed_or_moved_acknowledges_nothing(
    push_api: Api, push_service: LocalPushService
) -> None:
    """The token is scoped to one subscription: once Sign out or Turn off removed it, or the
    browser signed in to another account (the endpoint moved there), an alarm's notification
    still on the phone no longer acknowledges as the previous user."""
    _anna, anna_headers, _ = push_api.signup("Anna")
    _ben, ben_headers, _ = push_api.signup("Ben")
    device_id = push_api.claimed_device(anna_headers)
    removed, moved = push_service.subscribe(), push_service.subscribe()
    removed_id = register(push_api, anna_headers, removed).json()["id"]
    register(push_api, anna_headers, moved)
    alert = device_alarm(push_api, device_id)
    (to_removed,) = push_service.wait_for_accepted(removed)
    (to_moved,) = push_service.wait_for_accepted(moved)
    assert to_removed.payload is not None
    assert to_moved.payload is not None

    path = f"/push/subscriptions/{removed_id}"
    assert push_api.client.delete(path, headers=anna_headers).status_code == 204
    gone = ack(push_api, to_removed.payload["ack"]["token"])
    assert gone.status_code == 401
    assert "subscription was removed" in gone.json()["detail"]

    assert register(push_api, ben_headers, moved).status_code == 200
    elsewhere = ack(push_api, to_moved.payload["ack"]["token"])
    assert elsewhere.status_code == 401
    assert "another account" in elsewhere.json()["detail"]

    still = push_api.run(push_api.storage.get_alert, alert.id)
    assert still.acknowledged_at is None, "nothing acknowledged as Anna"


def test_acknowledging_an_alarm_someone_else_took_says_who_and_marks_nothing(
    push_api: Api, push_service: LocalPushService
) -> None:
    _anna, anna_headers, anna_session = push_api.signup("Anna")
    ben, ben_headers, ben_session = push_api.signup("Bén")
    device_id = push_api.claimed_device(anna_headers)
    invited = push_api.client.post(
        f"/devices/{device_id}/caregivers",
        headers=anna_headers,
        json={"email": ben_session["user"]["email"]},
    )
    assert invited.status_code == 202, invited.text
    phone = push_service.subscribe()
    sub_id = register(push_api, anna_headers, phone).json()["id"]
    alert = device_alarm(push_api, device_id)
    (alarm,) = push_service.wait_for_accepted(phone)
    assert alarm.payload is not None
    # Ben took it first (the banner, another phone).
    assert push_api.client.post(f"/alerts/{alert.id}/ack", headers=ben_headers).status_code == 200

    late = ack(push_api, alarm.payload["ack"]["token"])
    assert late.status_code == 200, late.text
    assert late.json()["acknowledged_by"] == ben
    # The name for "Already taken by Bén", percent-encoded UTF-8 (a header is ASCII).
    assert late.headers["X-Acknowledged-By-Name"] == "B%C3%A9n"
    rows = push_api.client.get(f"/alerts/{alert.id}/deliveries", headers=anna_headers).json()
    (pushed,) = [r for r in rows if r["subscription_id"] == sub_id and r["purpose"] == "alert"]
    assert pushed["acknowledged_at"] is None, "not acknowledged from this notification"
    assert anna_session["user"]["name"] == "Anna"


def test_deliveries_are_visible_only_to_the_alerts_audience(push_api: Api) -> None:
    _owner, headers, _ = push_api.signup("Anna")
    _stranger, stranger_headers, _ = push_api.signup("Eve")
    device_id = push_api.claimed_device(headers)
    alert = device_alarm(push_api, device_id)
    path = f"/alerts/{alert.id}/deliveries"
    assert push_api.client.get(path).status_code == 401
    assert push_api.client.get(path, headers=headers).status_code == 200
    assert push_api.client.get(path, headers=stranger_headers).status_code == 404
    assert push_api.client.get("/alerts/999999999/deliveries", headers=headers).status_code == 404


def test_an_alarm_in_flight_when_acknowledged_is_followed_by_its_acknowledgement(
    push_api: Api, push_service: LocalPushService
) -> None:
    """The acknowledgement cancels the pending push; the push service accepts the request that
    was already on its way, so that phone shows the alarm - and then gets "Acknowledged"."""
    _owner, headers, _ = push_api.signup("Anna")
    device_id = push_api.claimed_device(headers)
    slow, waiting = push_service.subscribe(), push_service.subscribe()
    push_service.script(slow, Answer(201, delay_s=1.5))
    push_service.script(waiting, Answer.server_error())
    register(push_api, headers, slow)
    waiting_id = register(push_api, headers, waiting).json()["id"]

    alert = device_alarm(push_api, device_id)
    push_service.wait_for(lambda all_: any(r.endpoint == waiting.endpoint for r in all_))
    taken = push_api.client.post(f"/alerts/{alert.id}/ack", headers=headers)
    assert taken.status_code == 200

    def is_acknowledged(request: Any) -> bool:
        return request.payload is not None and request.payload["type"] == "acknowledged"

    push_service.wait_for_accepted(slow, where=is_acknowledged)
    time.sleep(2.5)  # the 500's retry would have come by now
    assert [r.status for r in push_service.requests(waiting)] == [500], "cancelled, not retried"
    rows = settled_deliveries(push_api, alert.id, headers)
    pushes = {(r["subscription_id"], r["purpose"]): r for r in rows if r["channel"] == "webpush"}
    assert pushes[(waiting_id, "alert")]["status"] == "cancelled"
    assert (waiting_id, "acknowledged") not in pushes, "that phone never showed the alarm"
    in_flight = [r for (sub, purpose), r in pushes.items() if sub != waiting_id]
    assert sorted((r["purpose"], r["status"]) for r in in_flight) == [
        ("acknowledged", "accepted"),
        ("alert", "cancelled"),
    ]
    assert next(r for r in in_flight if r["purpose"] == "alert")["accepted_at"] is not None


def test_a_push_whose_sender_died_is_sent_once_its_lease_passes(
    push_api: Api, push_service: LocalPushService
) -> None:
    owner, headers, _ = push_api.signup("Anna")
    device_id = push_api.claimed_device(headers)
    alert = device_alarm(push_api, device_id)  # nobody subscribed yet: nothing sent
    # The start-up catch-up is over (else, on a slow machine, it could push this alarm to the
    # phone below itself - a live process's claim, not the dead one this test is about).
    pipeline: PushPipeline = push_api.client.app.state.services.push_pipeline  # type: ignore[attr-defined]
    push_api.run(pipeline.caught_up.wait)
    phone = push_service.subscribe()
    sub_id = register(push_api, headers, phone).json()["id"]
    # Another API process claimed this push and died before answering: its lease ends now.
    now = datetime.now(UTC)
    claim = PushClaim(alert.id, 0, "alert", sub_id, owner, "webpush")
    (row,) = push_api.run(push_api.storage.claim_push_deliveries, [claim], now, now)

    (request,) = push_service.wait_for_accepted(phone, timeout_s=5)
    assert request.payload is not None
    assert (request.payload["type"], request.payload["alert"]["id"]) == ("alert", alert.id)
    (pushed,) = [
        r for r in settled_deliveries(push_api, alert.id, headers) if r["channel"] == "webpush"
    ]
    assert (pushed["status"], pushed["attempts"]) == ("accepted", 2)
    assert row.attempts == 1


def test_a_redirect_from_the_push_service_is_not_followed(
    push_api: Api, push_service: LocalPushService, vapid_keys: VapidKeyPair
) -> None:
    """The endpoint's host was checked at registration; a 307 to anywhere else (an internal
    address) must not carry the request there."""
    _owner, headers, _ = push_api.signup("Anna")
    device_id = push_api.claimed_device(headers)
    phone = push_service.subscribe()
    with LocalPushService(vapid_keys.public_key) as internal:
        target = internal.subscribe()
        push_service.script(phone, Answer(307, {"Location": target.endpoint}))
        register(push_api, headers, phone)

        alert = device_alarm(push_api, device_id)
        push_service.wait_for(lambda all_: any(r.endpoint == phone.endpoint for r in all_))
        pushed = [
            r for r in settled_deliveries(push_api, alert.id, headers) if r["channel"] == "webpush"
        ]
        assert internal.requests() == [], "the redirect was followed"
    assert [(r["status"], r["last_status"], r["error"]) for r in pushed] == [
        ("failed", 307, "redirect refused")
    ]
