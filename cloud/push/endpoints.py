"""Which push subscriptions may be registered.

The server sends an HTTP request to whatever endpoint a browser registered, so a registration is
a request the API will make later on the user's behalf: without a guard, an account could point
it at the server's own network (SSRF). ``check_endpoint`` lets through only https URLs on the
configured push services' hosts (``NURSERY_PUSH_ENDPOINT_HOSTS``, a suffix match on whole host
labels) on the default port (any port only with ``NURSERY_PUSH_ALLOW_HTTP``, tests and local
development). ``check_keys`` checks the browser's encryption keys (RFC 8291) so that a subscription
that could never be encrypted to is refused when it is registered, not at every alarm.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from cloud.push.encoding import b64url_decode

MAX_ENDPOINT_LENGTH = 2048
P256DH_BYTES = 65
AUTH_BYTES = 16
DEFAULT_PORTS = {"https": 443, "http": 80}
# Visible ASCII: a space, a control character or non-ASCII in a URL means it was crafted (URL
# parsers strip or reinterpret them differently from one another).
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class SubscriptionRefused(ValueError):  # noqa: N818 - a refusal, named as the API reports it
    """The subscription cannot be registered; the message is the reason shown in the 422."""


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_ip_address(host: str) -> bool:
    """``host`` is an IPv4 or IPv6 address as written in a URL's host (without brackets)."""
    return _ip_address(host) is not None


def is_host_name(host: str) -> bool:
    """``host`` (lowercase, no trailing dot) is a DNS name of letters, digits and hyphens that
    no resolver reads as an address: one ending in a number ("0x7f000001", "127.1") is not -
    only plain dotted addresses are accepted, and those are matched exactly (is_ip_address)."""
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return not (labels[-1].isdigit() or labels[-1].startswith("0x"))


def host_allowed(host: str, allowed_hosts: Sequence[str]) -> bool:
    """``host`` is one of ``allowed_hosts`` or under one of them, label by label: under
    ``push.apple.com`` are ``web.push.apple.com`` and ``push.apple.com`` itself, not
    ``evilpush.apple.com``. An IP address matches only itself."""
    if _ip_address(host) is not None:
        return any(_ip_address(allowed) == _ip_address(host) for allowed in allowed_hosts)
    return any(
        host == allowed or host.endswith("." + allowed)
        for allowed in (entry.lower().strip(".") for entry in allowed_hosts)
        if allowed
    )


def check_endpoint(endpoint: str, allowed_hosts: Sequence[str], allow_http: bool) -> str:
    """The endpoint's host when the server may send to ``endpoint``; raises SubscriptionRefused
    with the reason otherwise."""
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        raise SubscriptionRefused(
            f"endpoint is longer than {MAX_ENDPOINT_LENGTH} characters ({len(endpoint)})"
        )
    if not endpoint:
        raise SubscriptionRefused("endpoint must be an https:// URL")
    if not _VISIBLE_ASCII.fullmatch(endpoint):
        raise SubscriptionRefused(
            "endpoint must be a URL of visible ASCII characters (no spaces or control characters)"
        )
    parts = urlsplit(endpoint)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_http):
        raise SubscriptionRefused("endpoint must be an https:// URL")
    if "@" in parts.netloc or "\\" in endpoint:
        raise SubscriptionRefused("endpoint must not carry a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise SubscriptionRefused("endpoint has an invalid port") from None
    # A push service listens on the scheme's default port; another port on an allowed host
    # reaches whatever else runs there. Tests and local development run their push service on
    # a free port: with allow_http (refused in production) any port goes.
    if port is not None and port != DEFAULT_PORTS[scheme] and not allow_http:
        raise SubscriptionRefused(
            f"endpoint port {port} is not allowed: push services listen on "
            f"{DEFAULT_PORTS[scheme]} (leave the port out)"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise SubscriptionRefused("endpoint has no host")
    if not is_ip_address(host) and not is_host_name(host):
        raise SubscriptionRefused(f"endpoint host {host!r} is not a valid host name")
    if not host_allowed(host, allowed_hosts):
        raise SubscriptionRefused(
            f"endpoint host {host} is not a push service this server sends to "
            f"(allowed: {', '.join(allowed_hosts)})"
        )
    return host


def check_keys(p256dh: str, auth: str) -> None:
    """The browser's keys (``PushSubscription.toJSON().keys``) are usable for aes128gcm: a
    P-256 public key as a 65-byte uncompressed point on the curve, and a 16-byte auth secret.
    Raises SubscriptionRefused with the reason otherwise."""
    try:
        point = b64url_decode(p256dh)
    except ValueError as exc:
        raise SubscriptionRefused(f"keys.p256dh is {exc}") from None
    if len(point) != P256DH_BYTES or point[0] != 0x04:
        raise SubscriptionRefused(
            f"keys.p256dh must be a {P256DH_BYTES}-byte uncompressed P-256 point "
            f"(starting 0x04), got {len(point)} bytes"
        )
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise SubscriptionRefused("keys.p256dh is not a point on the P-256 curve") from None
    try:
        secret = b64url_decode(auth)
    except ValueError as exc:
        raise SubscriptionRefused(f"keys.auth is {exc}") from None
    if len(secret) != AUTH_BYTES:
        raise SubscriptionRefused(f"keys.auth must be {AUTH_BYTES} bytes, got {len(secret)}")
