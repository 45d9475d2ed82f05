"""Which subscriptions may be registered: the SSRF guard on endpoints (https, allowed push
service hosts by whole labels, no tricks) and the browser's encryption keys."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cloud.push.endpoints import (
    MAX_ENDPOINT_LENGTH,
    SubscriptionRefused,
    check_endpoint,
    check_keys,
    host_allowed,
)
from cloud.push.settings import DEFAULT_PUSH_ENDPOINT_HOSTS

HOSTS = DEFAULT_PUSH_ENDPOINT_HOSTS


def b64(data: bytes, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if padded else text.rstrip("=")


def browser_keys() -> tuple[str, str]:
    """p256dh and auth as a browser's PushSubscription.toJSON() gives them."""
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return b64(point), b64(bytes(range(16)))


# --- endpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91b", "fcm.googleapis.com"),
        (
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
            "updates.push.services.mozilla.com",
        ),
        ("https://web.push.apple.com/QGuQyavXutnMH3wJ", "web.push.apple.com"),
        ("https://push.apple.com/x", "push.apple.com"),
        ("https://wns2-db5p.notify.windows.com/w/?token=BQYAAA", "wns2-db5p.notify.windows.com"),
        ("HTTPS://FCM.GoogleAPIs.com/fcm/send/x", "fcm.googleapis.com"),
        ("https://fcm.googleapis.com:443/fcm/send/x", "fcm.googleapis.com"),
        ("https://fcm.googleapis.com./fcm/send/x", "fcm.googleapis.com"),
    ],
)
def test_the_browsers_push_services_are_accepted(endpoint: str, host: str) -> None:
    assert check_endpoint(endpoint, HOSTS, allow_http=False) == host


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        # Not under an allowed host by whole labels.
        ("https://evilpush.apple.com/x", "not a push service"),
        ("https://push.apple.com.evil.example/x", "not a push service"),
        ("https://fcm.googleapis.com.evil.example/x", "not a push service"),
        ("https://googleapis.com/x", "not a push service"),
        ("https://apple.com/x", "not a push service"),
        ("https://localhost/x", "not a push service"),
        ("https://127.0.0.1/x", "not a push service"),
        ("https://[::1]/x", "not a push service"),
        ("https://169.254.169.254/latest/meta-data", "not a push service"),
        # The host a URL parser sees is not the one it seems to name.
        ("https://fcm.googleapis.com@evil.example/x", "user name or password"),
        ("https://user:pw@fcm.googleapis.com/x", "user name or password"),
        ("https://evil.example\\@fcm.googleapis.com/x", "user name or password"),
        ("https://evil.example#@fcm.googleapis.com/x", "not a push service"),
        ("https://evil.example?.fcm.googleapis.com/x", "not a push service"),
        ("https://fcm.googleapis.com%2eevil.example/x", "not a valid host name"),
        ("https://fcm.googleapis.com\t.evil.example/x", "visible ASCII"),
        ("https://fcm.googleapis.com /x", "visible ASCII"),
        ("https://fcm.googleäpis.com/x", "visible ASCII"),
        ("https://0x7f000001/x", "not a valid host name"),
        ("https://127.1/x", "not a valid host name"),
        ("https://fcm.googleapis.com:99999/x", "invalid port"),
        ("https://fcm.googleapis.com:abc/x", "invalid port"),
        # Not https.
        ("http://fcm.googleapis.com/fcm/send/x", "https"),
        ("ftp://fcm.googleapis.com/x", "https"),
        ("//fcm.googleapis.com/x", "https"),
        ("fcm.googleapis.com/x", "https"),
        ("javascript:alert(1)", "https"),
        ("", "https"),
        # No host.
        ("https:///x", "no host"),
        ("https://:443/x", "no host"),
    ],
)
def test_endpoints_elsewhere_are_refused_with_the_reason(endpoint: str, reason: str) -> None:
    with pytest.raises(SubscriptionRefused, match=reason):
        check_endpoint(endpoint, HOSTS, allow_http=False)


def test_an_overlong_endpoint_is_refused() -> None:
    base = "https://fcm.googleapis.com/fcm/send/"
    fits = base + "a" * (MAX_ENDPOINT_LENGTH - len(base))
    assert check_endpoint(fits, HOSTS, allow_http=False) == "fcm.googleapis.com"
    with pytest.raises(SubscriptionRefused, match="longer than 2048"):
        check_endpoint(fits + "a", HOSTS, allow_http=False)


def test_http_is_accepted_only_when_allowed_and_ip_addresses_match_exactly() -> None:
    local = ("127.0.0.1",)
    assert check_endpoint("http://127.0.0.1:8123/push/1", local, allow_http=True) == "127.0.0.1"
    assert check_endpoint("https://127.0.0.1:8123/push/1", local, allow_http=True) == "127.0.0.1"
    with pytest.raises(SubscriptionRefused, match="https"):
        check_endpoint("http://127.0.0.1:8123/push/1", local, allow_http=False)
    for other in ("http://127.0.0.2/x", "http://1.127.0.0.1/x", "http://localhost/x"):
        with pytest.raises(SubscriptionRefused):
            check_endpoint(other, local, allow_http=True)
    # allow_http does not widen the schemes beyond http.
    with pytest.raises(SubscriptionRefused, match="https"):
        check_endpoint("ws://127.0.0.1/x", local, allow_http=True)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com:6379/x",
        "https://fcm.googleapis.com:80/x",
        "https://fcm.googleapis.com:8443/x",
        "https://web.push.apple.com:22/x",
        "https://fcm.googleapis.com:0/x",
    ],
)
def test_only_the_default_port_is_allowed(endpoint: str) -> None:
    """A push service listens on 443: another port on an allowed host could reach something
    else there (or, with a host entry pointing inwards, a service of the server's network)."""
    with pytest.raises(SubscriptionRefused, match="port"):
        check_endpoint(endpoint, HOSTS, allow_http=False)


def test_any_port_only_with_http_allowed() -> None:
    """Tests and local development run the push service on a free port: with
    NURSERY_PUSH_ALLOW_HTTP (refused in production) any port is allowed, http or https."""
    local = ("127.0.0.1",)
    for endpoint in ("https://127.0.0.1:8123/x", "https://127.0.0.1:6379/x"):
        with pytest.raises(SubscriptionRefused, match="port"):
            check_endpoint(endpoint, local, allow_http=False)
        assert check_endpoint(endpoint, local, allow_http=True) == "127.0.0.1"
    assert check_endpoint("http://127.0.0.1:6379/x", local, allow_http=True) == "127.0.0.1"
    assert check_endpoint("http://127.0.0.1:80/x", local, allow_http=True) == "127.0.0.1"
    assert check_endpoint("https://127.0.0.1:443/x", local, allow_http=False) == "127.0.0.1"


def test_the_refusal_names_the_allowed_hosts() -> None:
    with pytest.raises(SubscriptionRefused) as refused:
        check_endpoint("https://push.example.org/x", HOSTS, allow_http=False)
    assert "push.example.org" in str(refused.value)
    assert "fcm.googleapis.com" in str(refused.value)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("push.apple.com", True),
        ("web.push.apple.com", True),
        ("a.b.push.apple.com", True),
        ("evilpush.apple.com", False),
        ("push.apple.com.evil", False),
        ("apple.com", False),
        ("com", False),
    ],
)
def test_hosts_match_by_whole_labels(host: str, allowed: bool) -> None:
    assert host_allowed(host, ["push.apple.com", ""]) is allowed
    # The configured entry's case and a trailing dot do not matter.
    assert host_allowed(host, ["Push.Apple.COM."]) is allowed


# --- keys ------------------------------------------------------------------------------------


def test_a_browsers_keys_are_accepted_padded_or_not() -> None:
    p256dh, auth = browser_keys()
    check_keys(p256dh, auth)
    check_keys(p256dh + "=" * (-len(p256dh) % 4), auth + "==")


def not_on_the_curve() -> str:
    point = bytearray(base64.urlsafe_b64decode(browser_keys()[0] + "="))
    point[-1] ^= 1  # y no longer solves the curve's equation for x
    return b64(bytes(point))


def compressed_point() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return b64(key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint))


@pytest.mark.parametrize(
    ("p256dh", "auth", "reason"),
    [
        ("not base64!", None, "keys.p256dh is not base64url"),
        ("a+b/", None, "keys.p256dh is not base64url"),
        (b64(bytes(64)), None, "65-byte uncompressed P-256 point"),
        (b64(b"\x04" + bytes(65)), None, "got 66 bytes"),
        (b64(b"\x05" + bytes(64)), None, "starting 0x04"),
        ("compressed", None, "got 33 bytes"),
        ("off-curve", None, "not a point on the P-256 curve"),
        (b64(b"\x04" + bytes(64)), None, "not a point on the P-256 curve"),
        (None, b64(bytes(15)), "keys.auth must be 16 bytes, got 15"),
        (None, b64(bytes(17)), "keys.auth must be 16 bytes, got 17"),
        (None, "", "keys.auth must be 16 bytes, got 0"),
        (None, "a+b/a+b/a+b/a+b/a+b/aa", "keys.auth is not base64url"),
    ],
)
def test_unusable_keys_are_refused_with_the_reason(
    p256dh: str | None, auth: str | None, reason: str
) -> None:
    good_p256dh, good_auth = browser_keys()
    p256dh = {"compressed": compressed_point(), "off-curve": not_on_the_curve()}.get(
        p256dh or "", p256dh
    )
    with pytest.raises(SubscriptionRefused, match=reason):
        check_keys(p256dh or good_p256dh, good_auth if auth is None else auth)
