"""The VAPID key pair: generated, read back, and usable by pywebpush to sign real push requests
whose ES256 token verifies with the public key browsers subscribe with."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import http_ece
import jwt
import py_vapid
import pytest
from aiohttp import ClientSession, web
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pywebpush import webpush_async

from cloud.push.keys import application_server_key, generate_vapid_keys, vapid_signer

ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key(encoded: str) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(encoded))


def test_generated_keys_are_unpadded_base64url_of_the_raw_scalar_and_the_point() -> None:
    keys = generate_vapid_keys()
    assert "=" not in keys.private_key + keys.public_key
    private, public = unb64(keys.private_key), unb64(keys.public_key)
    assert len(private) == 32
    assert len(public) == 65
    assert public[0] == 0x04
    # The point is the scalar's, computed independently of the module.
    expected = ec.derive_private_key(int.from_bytes(private, "big"), ec.SECP256R1())
    assert public == expected.public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )
    assert generate_vapid_keys().private_key != keys.private_key


def test_the_public_key_derived_from_the_private_one_is_the_generated_one() -> None:
    keys = generate_vapid_keys()
    assert application_server_key(keys.private_key) == keys.public_key
    # Padded or with surrounding whitespace (as pasted into .env) reads the same.
    padded = keys.private_key + "=" * (-len(keys.private_key) % 4)
    assert application_server_key(f" {padded}\n") == keys.public_key


def test_py_vapid_reads_the_private_key_as_the_same_key() -> None:
    # What pywebpush would do with the string: Vapid.from_string -> from_raw.
    keys = generate_vapid_keys()
    theirs = py_vapid.Vapid02.from_string(keys.private_key)
    point = theirs.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert b64(point) == keys.public_key


def test_the_repr_of_a_key_pair_hides_the_private_key() -> None:
    keys = generate_vapid_keys()
    assert keys.private_key not in repr(keys)
    assert keys.public_key in repr(keys)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not+base64/url", "not base64url"),
        ("abcde", "not base64url"),
        (b64(bytes(16)), "16 bytes"),
        (b64(bytes(33)), "33 bytes"),
        (b64(bytes(32)), "not a valid P-256 private value"),
        (b64(ORDER.to_bytes(32, "big")), "not a valid P-256 private value"),
        (b64(b"\xff" * 32), "not a valid P-256 private value"),
        ("", "0 bytes"),
    ],
)
def test_an_unreadable_private_key_is_refused_with_the_reason(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as refused:
        application_server_key(value)
    with pytest.raises(ValueError, match=reason):
        vapid_signer(value)
    if value:
        assert value not in str(refused.value)


def test_the_signer_signs_an_es256_token_that_verifies_with_the_public_key() -> None:
    keys = generate_vapid_keys()
    expires = int(time.time()) + 3600
    headers = vapid_signer(keys.private_key).sign(
        {"sub": "mailto:a@b.c", "aud": "https://x.example", "exp": expires}
    )
    scheme, _, parameters = headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.split("=", 1) for part in parameters.split(","))
    assert fields["k"] == keys.public_key
    claims = jwt.decode(
        fields["t"],
        public_key(keys.public_key),
        algorithms=["ES256"],
        audience="https://x.example",
    )
    assert claims == {"sub": "mailto:a@b.c", "aud": "https://x.example", "exp": expires}
    # Signed by this key only: another key's public half refuses it.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            fields["t"],
            public_key(generate_vapid_keys().public_key),
            algorithms=["ES256"],
            audience="https://x.example",
        )


# --- a real push request through pywebpush, received by a local HTTP server ------------------


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    async def push(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/push/{id}", push)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        await runner.cleanup()


async def test_pywebpush_sends_with_the_signer_and_the_browser_decrypts(
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    origin, received = receiver
    keys = generate_vapid_keys()
    # The browser's side of the subscription (RFC 8291): its own P-256 key and auth secret.
    browser = ec.generate_private_key(ec.SECP256R1())
    auth = bytes(range(16))
    subscription = {
        "endpoint": f"{origin}/push/abc",
        "keys": {
            "p256dh": b64(
                browser.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
            ),
            "auth": b64(auth),
        },
    }
    async with ClientSession() as session:
        response = await webpush_async(
            subscription,
            data='{"v":1}',
            vapid_private_key=vapid_signer(keys.private_key),
            vapid_claims={"sub": "mailto:ops@example.org"},
            ttl=900,
            aiohttp_session=session,
        )
        assert response.status == 201
    [(headers, body)] = received
    scheme, _, parameters = headers["Authorization"].partition(" ")
    fields = dict(part.split("=", 1) for part in parameters.split(","))
    assert scheme == "vapid"
    assert fields["k"] == keys.public_key
    claims = jwt.decode(
        fields["t"], public_key(keys.public_key), algorithms=["ES256"], audience=origin
    )
    assert claims["sub"] == "mailto:ops@example.org"
    assert headers["Content-Encoding"] == "aes128gcm"
    plain = http_ece.decrypt(body, private_key=browser, auth_secret=auth, version="aes128gcm")
    assert plain == b'{"v":1}'
