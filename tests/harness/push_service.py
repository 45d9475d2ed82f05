"""A local Web Push service and the browser side of a subscription, for tests and benchmarks.

It plays both parts a real deployment leaves to others:

- the browser (``BrowserSubscription``): its own P-256 key pair and 16-byte auth secret, and an
  endpoint URL on this service, serialised like ``PushSubscription.toJSON()``;
- the push service (``LocalPushService``): an HTTP receiver on a free loopback port that checks
  each request the way FCM or Mozilla's autopush would (RFC 8292 VAPID, RFC 8030 headers),
  decrypts the RFC 8291 ``aes128gcm`` body with the subscription's private key, records what
  arrived and answers with a status scripted per subscription (201 unless told otherwise).

A request that fails a check is recorded with the reason and answered 400, so a broken VAPID
signature or encryption shows up as a failing assertion, not a hang. The receiver runs in its own
threads; every read and wait is thread-safe and usable from sync and async tests alike.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.harness.network import free_port

logger = logging.getLogger(__name__)

# RFC 8291 section 4 / RFC 8030: push services accept at least 4096 octets of body.
MAX_BODY_BYTES = 4096
# RFC 8292 section 2: "exp" no more than 24 hours from the time of the request.
MAX_VAPID_LIFETIME_S = 24 * 3600
URGENCIES = ("very-low", "low", "normal", "high")
# RFC 8030 section 5.4: a topic is at most 32 characters of the URL-safe base64 alphabet.
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point (65 bytes), as browsers and VAPID headers carry a P-256 key."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@dataclass(frozen=True)
class BrowserSubscription:
    """What ``pushManager.subscribe()`` gives a page: an endpoint and the keys to encrypt to."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    # The applicationServerKey the page subscribed with (b64url); None: any VAPID key is taken.
    application_server_key: str | None = None

    @classmethod
    def create(
        cls, endpoint: str, application_server_key: str | None = None
    ) -> BrowserSubscription:
        return cls(
            endpoint=endpoint,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=secrets.token_bytes(16),
            application_server_key=application_server_key,
        )

    @property
    def p256dh(self) -> str:
        return b64url(public_key_bytes(self.private_key.public_key()))

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    def to_json(self) -> dict[str, Any]:
        """The shape of ``PushSubscription.toJSON()`` (base64url without padding)."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }

    def decrypt(self, body: bytes) -> bytes:
        """What the browser does with a push message's body (RFC 8291, aes128gcm)."""
        plain: bytes = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        return plain


@dataclass(frozen=True)
class Answer:
    """One scripted answer of the push service to a well-formed request."""

    status: int = 201
    headers: Mapping[str, str] = field(default_factory=dict)
    # Held back this long before answering (a slow push service, for timeouts).
    delay_s: float = 0.0

    @classmethod
    def created(cls) -> Answer:
        return cls(201)

    @classmethod
    def gone(cls) -> Answer:
        """The subscription expired or was unsubscribed (RFC 8030 7.3)."""
        return cls(410)

    @classmethod
    def not_found(cls) -> Answer:
        return cls(404)

    @classmethod
    def too_many(cls, retry_after_s: int = 1) -> Answer:
        return cls(429, {"Retry-After": str(retry_after_s)})

    @classmethod
    def server_error(cls) -> Answer:
        return cls(500)


@dataclass(frozen=True)
class PushRequest:
    """One POST that reached the service, as recorded."""

    endpoint: str
    received_at: float  # time.time()
    received_monotonic: float
    ttl: int | None
    urgency: str | None
    topic: str | None
    status: int  # what the service answered
    payload: dict[str, Any] | None  # the decrypted JSON; None when rejected
    # Why the service refused the request (answered 400 or 404); None when the checks passed.
    rejected: str | None = None
    # The VAPID claims, once the signature verified.
    claims: dict[str, Any] | None = None

    @property
    def accepted(self) -> bool:
        """The push service took the message (the checks passed and it answered 2xx)."""
        return self.rejected is None and 200 <= self.status < 300


class RefusedError(Exception):
    """A request that a real push service would refuse; the message is the recorded reason."""


def _public_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as error:
        raise RefusedError(f"VAPID k is not a P-256 point: {error}") from error


def verify_vapid(
    authorization: str | None, audience: str, expected_key: str | None, now: float
) -> dict[str, Any]:
    """Check an ``Authorization: vapid t=<jwt>, k=<key>`` header (RFC 8292 section 3); the
    claims it carries."""
    if not authorization:
        raise RefusedError("no Authorization header")
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise RefusedError(f"Authorization scheme is {scheme!r}, not vapid")
    values: dict[str, str] = {}
    for part in params.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            values[name.strip().lower()] = value.strip()
    token, key = values.get("t"), values.get("k")
    if not token or not key:
        raise RefusedError("Authorization lacks t= or k=")
    try:
        raw_key = b64url_decode(key)
    except (binascii.Error, ValueError) as error:
        raise RefusedError("VAPID k is not base64url") from error
    if expected_key is not None and raw_key != b64url_decode(expected_key):
        raise RefusedError("VAPID k is not the applicationServerKey of the subscription")
    pieces = token.split(".")
    if len(pieces) != 3:
        raise RefusedError("VAPID t is not a JWS compact token")
    try:
        header = json.loads(b64url_decode(pieces[0]))
        claims = json.loads(b64url_decode(pieces[1]))
        signature = b64url_decode(pieces[2])
    except (binascii.Error, ValueError) as error:
        raise RefusedError(f"VAPID t does not decode: {error}") from error
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise RefusedError(f"VAPID JWT alg is {header!r}, not ES256")
    if len(signature) != 64:
        raise RefusedError("VAPID JWT signature is not 64 bytes (r || s)")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        _public_key(raw_key).verify(
            der, f"{pieces[0]}.{pieces[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as error:
        raise RefusedError("VAPID JWT signature does not verify with k") from error
    if not isinstance(claims, dict):
        raise RefusedError("VAPID JWT claims are not an object")
    if claims.get("aud") != audience:
        raise RefusedError(f"VAPID aud is {claims.get('aud')!r}, not {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise RefusedError(f"VAPID exp is {exp!r}")
    if exp <= now:
        raise RefusedError("VAPID exp is in the past")
    if exp > now + MAX_VAPID_LIFETIME_S:
        raise RefusedError("VAPID exp is more than 24 h ahead")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.startswith(("mailto:", "https:")):
        raise RefusedError(f"VAPID sub is {subject!r}, not mailto: or https:")
    return claims


def _push_headers(headers: Mapping[str, str]) -> None:
    """Check the RFC 8030 headers (``headers`` with lower-case names)."""
    ttl_text = headers.get("ttl")
    if ttl_text is None:
        # RFC 8030 5.2: a request without TTL is answered 400.
        raise RefusedError("no TTL header")
    try:
        ttl = int(ttl_text)
    except ValueError as error:
        raise RefusedError(f"TTL {ttl_text!r} is not an integer") from error
    if ttl < 0:
        raise RefusedError(f"TTL {ttl} is negative")
    urgency = headers.get("urgency")
    if urgency is not None and urgency not in URGENCIES:
        raise RefusedError(f"Urgency {urgency!r} is not one of {URGENCIES}")
    topic = headers.get("topic")
    if topic is not None and not TOPIC.match(topic):
        raise RefusedError(f"Topic {topic!r} is not <= 32 URL-safe base64 characters")


class LocalPushService:
    """A push service on ``http://127.0.0.1:<free port>``; use as a context manager.

    ``subscribe()`` creates a browser subscription whose endpoint is on this service;
    ``script()`` queues answers for it; ``requests()`` and ``wait_for()`` read what arrived.
    """

    def __init__(self, application_server_key: str | None = None) -> None:
        """``application_server_key``: the VAPID public key (b64url) subscriptions are made
        with unless ``subscribe`` says otherwise; None: any key that signs is taken."""
        self.application_server_key = application_server_key
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Condition()
        self._subscriptions: dict[str, BrowserSubscription] = {}
        self._answers: dict[str, deque[Answer]] = {}
        self._gone: set[str] = set()
        self._requests: list[PushRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalPushService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as real push services: the sender's connection pool is exercised.
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                service._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("push service: " + format, *args)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            # A short poll: stopping the service does not hold each test back half a second.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-push-service",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalPushService:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the browser side ------------------------------------------------------------------

    def subscribe(self, application_server_key: str | None = None) -> BrowserSubscription:
        """A new subscription on this service, as a browser's ``pushManager.subscribe()``."""
        endpoint = f"{self.origin}/push/{secrets.token_urlsafe(24)}"
        subscription = BrowserSubscription.create(
            endpoint, application_server_key or self.application_server_key
        )
        with self._lock:
            self._subscriptions[endpoint] = subscription
            self._answers[endpoint] = deque()
        return subscription

    def unsubscribe(self, subscription: BrowserSubscription) -> None:
        """The browser dropped it: further requests are answered 410."""
        with self._lock:
            self._subscriptions.pop(subscription.endpoint, None)
            self._gone.add(subscription.endpoint)

    def script(self, subscription: BrowserSubscription, *answers: Answer) -> None:
        """Answer the next well-formed requests to ``subscription`` with these, in order; 201
        once they are used up."""
        with self._lock:
            self._answers.setdefault(subscription.endpoint, deque()).extend(answers)

    # --- what arrived ----------------------------------------------------------------------

    def requests(self, subscription: BrowserSubscription | None = None) -> list[PushRequest]:
        with self._lock:
            return [
                r
                for r in self._requests
                if subscription is None or r.endpoint == subscription.endpoint
            ]

    def accepted(self, subscription: BrowserSubscription | None = None) -> list[PushRequest]:
        return [r for r in self.requests(subscription) if r.accepted]

    def rejected(self) -> list[PushRequest]:
        return [r for r in self.requests() if r.rejected is not None]

    def wait_for(
        self, predicate: Callable[[list[PushRequest]], bool], timeout_s: float = 10.0
    ) -> list[PushRequest]:
        """Block until ``predicate(all requests so far)`` holds; the requests then. Raises
        TimeoutError listing what did arrive (rejections with their reasons)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not predicate(list(self._requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"push service: condition not met within {timeout_s} s; received "
                        f"{self._describe(self._requests)}"
                    )
                self._lock.wait(left)
            return list(self._requests)

    async def wait_for_async(
        self, predicate: Callable[[list[PushRequest]], bool], timeout_s: float = 10.0
    ) -> list[PushRequest]:
        """``wait_for`` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout_s)

    def wait_for_accepted(
        self,
        subscription: BrowserSubscription,
        count: int = 1,
        timeout_s: float = 10.0,
        where: Callable[[PushRequest], bool] = lambda _r: True,
    ) -> list[PushRequest]:
        """The first ``count`` accepted requests to ``subscription`` matching ``where``."""
        self.wait_for(
            lambda all_: (
                sum(
                    1
                    for r in all_
                    if r.endpoint == subscription.endpoint and r.accepted and where(r)
                )
                >= count
            ),
            timeout_s,
        )
        return [r for r in self.accepted(subscription) if where(r)][:count]

    async def wait_for_accepted_async(
        self,
        subscription: BrowserSubscription,
        count: int = 1,
        timeout_s: float = 10.0,
        where: Callable[[PushRequest], bool] = lambda _r: True,
    ) -> list[PushRequest]:
        return await asyncio.to_thread(
            self.wait_for_accepted, subscription, count, timeout_s, where
        )

    @staticmethod
    def _describe(requests: list[PushRequest]) -> str:
        if not requests:
            return "nothing"
        return "; ".join(
            f"{r.endpoint.rsplit('/', 1)[-1][:8]}: {r.status} {r.rejected or ''}".strip()
            for r in requests
        )

    # --- the push service side -------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        received_at, received_monotonic = time.time(), time.monotonic()
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        endpoint = self.origin + request.path
        headers = {name: request.headers[name] for name in request.headers}
        try:
            answer, record = self._judge(endpoint, headers, body, received_at, received_monotonic)
        except Exception as error:
            # A fault of the harness itself is a refusal too: it fails the test instead of
            # leaving the sender retrying against a dropped connection.
            logger.exception("push service: judging a request failed")
            answer = Answer(400)
            record = PushRequest(
                endpoint, received_at, received_monotonic, None, None, None, 400, None,
                rejected=f"harness error: {type(error).__name__}: {error}",
            )  # fmt: skip
        with self._lock:
            self._requests.append(record)
            self._lock.notify_all()
        if answer.delay_s:
            time.sleep(answer.delay_s)
        request.send_response(answer.status)
        for name, value in answer.headers.items():
            request.send_header(name, value)
        if answer.status in (200, 201, 202):
            # RFC 8030 5: the push message resource.
            request.send_header("Location", f"{self.origin}/message/{secrets.token_urlsafe(8)}")
        reason = (record.rejected or "").encode()
        request.send_header("Content-Length", str(len(reason)))
        request.end_headers()
        if reason:
            request.wfile.write(reason)

    def _judge(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        body: bytes,
        received_at: float,
        received_monotonic: float,
    ) -> tuple[Answer, PushRequest]:
        """Check a request; the answer to send and the record to keep."""
        lowered = {name.lower(): value for name, value in headers.items()}
        ttl_text = lowered.get("ttl")
        partial: dict[str, Any] = {
            "endpoint": endpoint,
            "received_at": received_at,
            "received_monotonic": received_monotonic,
            "ttl": int(ttl_text) if ttl_text and ttl_text.lstrip("-").isdigit() else None,
            "urgency": lowered.get("urgency"),
            "topic": lowered.get("topic"),
        }
        with self._lock:
            subscription = self._subscriptions.get(endpoint)
            gone = endpoint in self._gone
        if subscription is None:
            # RFC 8030 7.3: an unsubscribed endpoint answers 410; one never issued 404.
            status = 410 if gone else 404
            return Answer(status), PushRequest(
                **partial, status=status, payload=None, rejected="no such subscription"
            )
        claims: dict[str, Any] | None = None
        try:
            claims = verify_vapid(
                lowered.get("authorization"),
                subscription.origin,
                subscription.application_server_key,
                received_at,
            )
            _push_headers(lowered)
            encoding = lowered.get("content-encoding")
            if encoding != "aes128gcm":
                raise RefusedError(f"Content-Encoding is {encoding!r}, not aes128gcm")
            if not body:
                raise RefusedError("empty body")
            if len(body) > MAX_BODY_BYTES:
                raise RefusedError(f"body of {len(body)} bytes is over {MAX_BODY_BYTES}")
            try:
                plain = subscription.decrypt(body)
            except Exception as error:  # http_ece raises several kinds; all mean "undecryptable"
                raise RefusedError(
                    f"body does not decrypt: {type(error).__name__}: {error}"
                ) from error
            try:
                payload = json.loads(plain)
            except ValueError as error:
                raise RefusedError(f"decrypted body is not JSON: {error}") from error
            if not isinstance(payload, dict):
                raise RefusedError("decrypted body is not a JSON object")
        except RefusedError as rejection:
            return Answer(400), PushRequest(
                **partial, status=400, payload=None, rejected=str(rejection), claims=claims
            )
        with self._lock:
            queue = self._answers.setdefault(endpoint, deque())
            answer = queue.popleft() if queue else Answer.created()
        return answer, PushRequest(**partial, status=answer.status, payload=payload, claims=claims)
