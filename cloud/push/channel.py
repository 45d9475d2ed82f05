"""The seam between the push pipeline and a push technology.

A ``PushChannel`` turns one payload for one subscription into one request and says how it went
(``SendOutcome``); it never raises for what the service or the network did. ``WebPushChannel``
(RFC 8030 + RFC 8291 encryption + RFC 8292 VAPID, via pywebpush) is the one implementation.
Native apps would add another - an FCM or APNs device token is a subscription with its own
``channel`` value, and the pipeline hands it to the channel of that name - without touching
storage, targeting, retries or the routes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from pywebpush import WebPushException, webpush_async

from cloud.push.keys import vapid_signer
from cloud.push.outcome import SendOutcome, retry_after_s
from cloud.push.payload import PushOptions
from cloud.storage.push_records import PushSubscription

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 10.0
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class RedirectRefusedError(aiohttp.ClientError):
    """A push service answered with a redirect; it is not followed."""

    def __init__(self, status: int) -> None:
        super().__init__(f"redirect {status} refused")
        self.status = status


async def _refuse_redirects(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Runs for every hop aiohttp makes: a redirect stops here instead of being followed. The
    endpoint's host was checked when the subscription was registered; a redirect could point
    anywhere (an internal address) and would carry the encrypted body there (SSRF)."""
    response = await handler(request)
    if response.status in REDIRECTS:
        response.release()
        raise RedirectRefusedError(response.status)
    return response


def new_push_session(timeout_s: float = SEND_TIMEOUT_S) -> aiohttp.ClientSession:
    """The one session every push request goes through (connections to each push service are
    reused); it never follows redirects."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s), middlewares=(_refuse_redirects,)
    )


class PushChannel(Protocol):
    # The ``channel`` value of the subscriptions this sends to ("webpush").
    channel: str

    async def send(
        self, subscription: PushSubscription, payload: bytes, options: PushOptions
    ) -> SendOutcome: ...


def endpoint_host(endpoint: str) -> str:
    """The host of an endpoint: what logs and the API show (the full URL is a capability)."""
    return urlsplit(endpoint).hostname or "?"


class WebPushChannel:
    """Web Push through one shared aiohttp session (connections to each push service reused)."""

    channel = "webpush"

    def __init__(
        self,
        private_key: str,
        subject: str,
        session: aiohttp.ClientSession,
        timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self._signer = vapid_signer(private_key)
        self._subject = subject
        self._session = session
        self._timeout_s = timeout_s

    async def send(
        self, subscription: PushSubscription, payload: bytes, options: PushOptions
    ) -> SendOutcome:
        info = {
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
        }
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await webpush_async(
                    info,
                    data=payload,
                    vapid_private_key=self._signer,
                    # A new dict per request: pywebpush fills in "aud" (the endpoint's origin)
                    # and "exp" in place.
                    vapid_claims={"sub": self._subject},
                    ttl=options.ttl,
                    headers={"Urgency": options.urgency, "Topic": options.topic},
                    timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                    aiohttp_session=self._session,
                )
        except WebPushException as exc:
            status = exc.status_code
            return SendOutcome(
                status if isinstance(status, int) else None,
                retry_after_s(exc.retry_after, datetime.now(UTC)),
                None if isinstance(status, int) else "no answer",
            )
        except RedirectRefusedError as exc:
            # Not retried: the same request is redirected the same way again.
            return SendOutcome(exc.status, None, "redirect refused")
        except TimeoutError:
            return SendOutcome(None, None, f"no answer within {self._timeout_s:.0f} s")
        except aiohttp.ClientError as exc:
            return SendOutcome(None, None, f"network: {type(exc).__name__}")
        status = int(response.status)
        response.release()
        return SendOutcome(status)
