"""The local push service (tests/harness/push_service.py) against pywebpush itself: a good push
decrypts and is recorded with its headers, and each thing a real push service refuses - a VAPID
key the subscription was not made with, a wrong audience, a stale or over-long token, a tampered
or misaddressed body, a missing TTL - is refused here too, so the harness can fail a test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from py_vapid import Vapid
from py_vapid.jwt import sign
from pywebpush import WebPusher, WebPushException, webpush, webpush_async

from tests.harness.push_service import (
    Answer,
    BrowserSubscription,
    LocalPushService,
    b64url,
    b64url_decode,
    public_key_bytes,
)

SUBJECT = "mailto:test@example.org"
PAYLOAD = {"v": 1, "type": "alert", "title": "Baby is crying", "alert": {"id": 42}}


def vapid_key() -> tuple[Vapid, str]:
    """A VAPID key pair as py_vapid makes it; the public key as the browser's
    applicationServerKey (b64url of the uncompressed point)."""
    vapid = Vapid()
    vapid.generate_keys()
    return vapid, b64url(public_key_bytes(vapid.public_key))


@pytest.fixture
def server_key() -> tuple[Vapid, str]:
    return vapid_key()


@pytest.fixture
def push_service(server_key: tuple[Vapid, str]) -> Iterator[LocalPushService]:
    with LocalPushService(application_server_key=server_key[1]) as service:
        yield service


def send(
    subscription: BrowserSubscription,
    vapid: Vapid,
    claims: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    ttl: int = 900,
) -> int:
    """pywebpush's synchronous send; the status the push service answered."""
    try:
        response = webpush(
            subscription.to_json(),
            data=json.dumps(payload or PAYLOAD),
            vapid_private_key=vapid,
            vapid_claims={"sub": SUBJECT, **(claims or {})},
            headers=headers or {},
            ttl=ttl,
            timeout=10,
        )
    except WebPushException as error:
        # pywebpush raises for any answer above 202; the status is the push service's.
        return int(error.response.status_code)
    return int(response.status_code)


def signed_request(
    subscription: BrowserSubscription, vapid: Vapid, body: bytes, **headers: str
) -> httpx.Response:
    """A hand-made push request with a valid VAPID header, for bodies pywebpush would not send."""
    authorization = vapid.sign({"sub": SUBJECT, "aud": subscription.origin})
    return httpx.post(
        subscription.endpoint,
        content=body,
        headers={**authorization, "Content-Encoding": "aes128gcm", **headers},
        timeout=10,
    )


def encrypted(subscription: BrowserSubscription, payload: dict[str, Any]) -> bytes:
    body: bytes = WebPusher(subscription.to_json()).encode(json.dumps(payload).encode())["body"]
    return body


def test_the_subscription_looks_like_a_browsers(push_service: LocalPushService) -> None:
    subscription = push_service.subscribe()
    shown = subscription.to_json()
    assert set(shown) == {"endpoint", "expirationTime", "keys"}
    assert shown["expirationTime"] is None
    assert shown["endpoint"].startswith(f"http://127.0.0.1:{push_service.port}/push/")
    assert "=" not in shown["keys"]["p256dh"] + shown["keys"]["auth"]
    point = b64url_decode(shown["keys"]["p256dh"])
    assert len(point) == 65
    assert point[0] == 4
    assert len(b64url_decode(shown["keys"]["auth"])) == 16
    assert push_service.subscribe().endpoint != subscription.endpoint


def test_a_good_push_is_decrypted_and_recorded_with_its_headers(
    push_service: LocalPushService, server_key: tuple[Vapid, str]
) -> None:
    subscription = push_service.subscribe()
    status = send(
        subscription, server_key[0], headers={"Urgency": "high", "Topic": "alert-42"}, ttl=900
    )
    assert status == 201
    [request] = push_service.wait_for_accepted(subscription)
    assert request.payload == PAYLOAD
    assert (request.ttl, request.urgency, request.topic) == (900, "high", "alert-42")
    assert request.claims is not None
    assert request.claims["aud"] == push_service.origin
    assert request.claims["sub"] == SUBJECT
    assert request.rejected is None
    assert push_service.rejected() == []


async def test_the_async_sender_with_a_shared_session_is_accepted(
    push_service: LocalPushService, server_key: tuple[Vapid, str]
) -> None:
    """What the API process uses: ``webpush_async`` on one aiohttp session (kept alive)."""
    subscription = push_service.subscribe()
    async with aiohttp.ClientSession() as session:
        for index in range(3):
            response = await webpush_async(
                subscription.to_json(),
                data=json.dumps({**PAYLOAD, "n": index}),
                vapid_private_key=server_key[0],
                vapid_claims={"sub": SUBJECT},
                ttl=60,
                aiohttp_session=session,
            )
            assert response.status == 201
    accepted = await push_service.wait_for_accepted_async(subscription, count=3)
    assert [r.payload["n"] for r in accepted if r.payload] == [0, 1, 2]


def test_a_push_signed_with_another_vapid_key_is_refused(
    push_service: LocalPushService,
) -> None:
    subscription = push_service.subscribe()
    other, _ = vapid_key()
    assert send(subscription, other) == 400
    [request] = push_service.requests(subscription)
    assert not request.accepted
    assert request.rejected is not None
    assert "applicationServerKey" in request.rejected


def test_a_signature_that_does_not_verify_with_k_is_refused(
    push_service: LocalPushService, server_key: tuple[Vapid, str]
) -> None:
    """The JWT signed by one key, the header claiming the subscription's key."""
    subscription = push_service.subscribe()
    other, _ = vapid_key()
    token = sign({"sub": SUBJECT, "aud": subscription.origin, "exp": int(time.time()) + 600},
                 other.private_key)  # fmt: skip
    response = httpx.post(
        subscription.endpoint,
        content=encrypted(subscription, PAYLOAD),
        headers={"Authorization": f"vapid t={token},k={server_key[1]}",
                 "Content-Encoding": "aes128gcm", "TTL": "60"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 400
    assert "does not verify" in response.text


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "http://127.0.0.1:1"}, "aud"),
        ({"aud": "https://fcm.googleapis.com"}, "aud"),
        ({"exp": int(time.time()) + 25 * 3600}, "24 h"),
        ({"sub": "https://example.org"}, None),  # https: subjects are allowed
    ],
)
def test_vapid_claims_are_checked(
    push_service: LocalPushService,
    server_key: tuple[Vapid, str],
    claims: dict[str, Any],
    reason: str | None,
) -> None:
    subscription = push_service.subscribe()
    status = send(subscription, server_key[0], claims=claims)
    [request] = push_service.requests(subscription)
    if reason is None:
        assert status == 201
        assert request.accepted
    else:
        assert status == 400
        assert request.rejected is not None
        assert reason in request.rejected


def test_an_expired_token_and_a_bad_subject_are_refused(
    push_service: LocalPushService, server_key: tuple[Vapid, str]
) -> None:
    """pywebpush will not sign these, so the tokens are made by hand with its signer."""
    subscription = push_service.subscribe()
    now = int(time.time())
    for claims, reason in (
        ({"sub": SUBJECT, "aud": subscription.origin, "exp": now - 5}, "past"),
        ({"sub": "test@example.org", "aud": subscription.origin, "exp": now + 60}, "sub"),
    ):
        token = sign(claims, server_key[0].private_key)
        response = httpx.post(
            subscription.endpoint,
            content=encrypted(subscription, PAYLOAD),
            headers={"Authorization": f"vapid t={token},k={server_key[1]}",
                     "Content-Encoding": "aes128gcm", "TTL": "60"},
            timeout=10,
        )  # fmt: skip
        assert response.status_code == 400
        assert reason in response.text


def test_a_tampered_body_is_refused(
    push_service: LocalPushService, server_key: tuple[Vapid, str]
) -> None:
    subscription = push_service.subscribe()
    body = bytearray(encrypted(subscription, PAYLOAD))
    body[-5] ^= 0x01
    response = signed_request(subscription, server_key[0], bytes(body), TTL="60")
    assert response.status_code == 400
    [request] = push_service.requests(subscription)
    assert request.rejected is not None
    assert "does not decrypt" in request.rejected
    assert request.payload is None
    # The untampered body is taken: the refusal was the tampering.
    good = signed_request(subscription, server_key[0], encrypted(subscription, PAYLOAD), TTL="60")
    assert good.status_code == 201


def test_a_body_encrypted_to_another_browser_is_refused(
    push_service: LocalPushService, server_key: tuple[Vapid, str]
) -> None:
    mine, theirs = push_service.subscribe(), push_service.subscribe()
    response = signed_request(mine, server_key[0], encrypted(theirs, PAYLOAD), TTL="60")
    assert response.status_code == 400
    assert "does not decrypt" in response.text


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "TTL"),
        ({"TTL": "60", "Urgency": "urgent"}, "Urgency"),
        ({"TTL": "60", "Topic": "alert 42"}, "Topic"),
        ({"TTL": "60", "Content-Encoding": "aesgcm"}, "aes128gcm"),
    ],
)
def test_push_headers_are_checked(
    push_service: LocalPushService,
    server_key: tuple[Vapid, str],
    headers: dict[str, str],
    reason: str,
) -> None:
    subscription = push_service.subscribe()
    response = signed_request(
        subscription, server_key[0], encrypted(subscription, PAYLOAD), **headers
    )
    assert response.status_code == 400
    assert reason in response.text


def test_scripted_answers_then_created(
    push_service: LocalPushService, server_key: tuple[Vapid, str]
) -> None:
    subscription = push_service.subscribe()
    push_service.script(
        subscription, Answer.too_many(retry_after_s=3), Answer.server_error(), Answer.gone()
    )
    with httpx.Client(timeout=10) as client:

        def post() -> httpx.Response:
            authorization = server_key[0].sign({"sub": SUBJECT, "aud": subscription.origin})
            return client.post(
                subscription.endpoint,
                content=encrypted(subscription, PAYLOAD),
                headers={**authorization, "Content-Encoding": "aes128gcm", "TTL": "60"},
            )

        first = post()
        assert (first.status_code, first.headers.get("Retry-After")) == (429, "3")
        assert [post().status_code for _ in range(3)] == [500, 410, 201]
    assert [r.status for r in push_service.requests(subscription)] == [429, 500, 410, 201]
    # Each was a well-formed push: decrypted and recorded, whatever the scripted answer.
    assert all(r.payload == PAYLOAD for r in push_service.requests(subscription))
    assert len(push_service.accepted(subscription)) == 1


def test_an_unsubscribed_endpoint_is_gone_and_an_unknown_one_not_found(
    push_service: LocalPushService, server_key: tuple[Vapid, str]
) -> None:
    subscription = push_service.subscribe()
    push_service.unsubscribe(subscription)
    assert send(subscription, server_key[0]) == 410
    stranger = BrowserSubscription.create(f"{push_service.origin}/push/never-issued")
    assert send(stranger, server_key[0]) == 404


def test_waiting_times_out_naming_what_was_refused(
    push_service: LocalPushService,
) -> None:
    subscription = push_service.subscribe()
    other, _ = vapid_key()
    send(subscription, other)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="applicationServerKey"):
        push_service.wait_for_accepted(subscription, timeout_s=0.5)
    assert time.monotonic() - started < 5


def test_a_subscription_accepts_any_signing_key_when_none_is_expected() -> None:
    """A service made without an applicationServerKey still checks the signature."""
    with LocalPushService() as service:
        subscription = service.subscribe()
        vapid, _ = vapid_key()
        assert send(subscription, vapid) == 201
        assert service.accepted(subscription)[0].payload == PAYLOAD
