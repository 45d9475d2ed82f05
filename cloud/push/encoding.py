"""base64url as Web Push spells it (RFC 7515 section 2: no padding), read strictly: browsers and
operators hand these strings in, and a lenient decoder would turn garbage into bytes."""

from __future__ import annotations

import base64
import binascii
import re

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of base64url ``text`` (padding optional); ValueError when it is not base64url
    (standard base64's ``+`` and ``/``, whitespace, a length no encoder produces)."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url (only A-Z a-z 0-9 - _ are allowed)")
    unpadded = text.rstrip("=")
    if len(unpadded) % 4 == 1:
        raise ValueError("not base64url (its length is impossible)")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
