"""The server's VAPID key pair (RFC 8292): a P-256 key whose public half browsers bind each
subscription to (``applicationServerKey``) and whose private half signs every push request.

The private key travels as the operator sets it in ``NURSERY_VAPID_PRIVATE_KEY``: base64url of
the raw 32-byte private scalar, what ``nursery-cloud push-keys`` prints and what py-vapid's
``from_raw`` reads. The public key is the 65-byte uncompressed point, base64url, which is what
``PushManager.subscribe({applicationServerKey})`` takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02

from cloud.push.encoding import b64url_decode, b64url_encode

PRIVATE_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class VapidKeyPair:
    # base64url without padding: the raw 32-byte private scalar (a secret: kept out of repr).
    private_key: str = field(repr=False)
    # base64url without padding: the 65-byte uncompressed public point.
    public_key: str


def _public_point(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url_encode(
        key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )


def _private_key(private_key: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 key of a base64url raw scalar; ValueError saying what is wrong with it (never
    the value: it is a secret)."""
    try:
        raw = b64url_decode(private_key.strip())
    except ValueError as exc:
        raise ValueError(f"the VAPID private key is {exc}") from None
    if len(raw) != PRIVATE_KEY_BYTES:
        raise ValueError(
            f"the VAPID private key is {len(raw)} bytes; a P-256 private key is "
            f"{PRIVATE_KEY_BYTES} (base64url of the raw value, as `nursery-cloud push-keys` "
            "prints it)"
        )
    try:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError:
        # Zero, or not below the curve's order.
        raise ValueError("the VAPID private key is not a valid P-256 private value") from None


def generate_vapid_keys() -> VapidKeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(PRIVATE_KEY_BYTES, "big")
    return VapidKeyPair(private_key=b64url_encode(raw), public_key=_public_point(key))


def application_server_key(private_key: str) -> str:
    """The public key browsers subscribe with, derived from the private one; raises ValueError
    with the reason when ``private_key`` cannot be read."""
    return _public_point(_private_key(private_key))


def vapid_signer(private_key: str) -> Vapid02:
    """A py-vapid signer for ``pywebpush.webpush_async(vapid_private_key=...)``. Passing the
    object, not the string: pywebpush would first try the string as a file path, and would
    parse the key again on every send."""
    return Vapid02(private_key=_private_key(private_key))
