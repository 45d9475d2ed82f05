"""Claim codes: how a parent proves a device in their hands is theirs.

``nursery-cloud device add`` (or ``device register --claim-code``) mints a code that is printed
once, on the device's label or the installer's screen, and stored only as a hash. A parent
types it into the app (``POST /devices/claim``); it works once, until it expires.

Codes are 10 characters of Crockford's base32 (no I, L, O, U: nothing to misread), shown as
``XXXXX-XXXXX``: 50 bits, so guessing is hopeless within the expiry and the claim rate limit.
The hash is a plain SHA-256 of the normalised code so that the code alone finds its device.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
DEFAULT_CLAIM_TTL = timedelta(days=14)
# What people type instead of the intended character.
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


class ClaimCodeError(ValueError):
    pass


def generate_claim_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_claim_code(code: str) -> str:
    """Upper-case, without separators or spaces, with look-alike letters mapped."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -_").translate(_CONFUSABLE)
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        raise ClaimCodeError(f"a claim code has {CODE_LENGTH} letters and digits, like ABCDE-12345")
    return cleaned


def hash_claim_code(code: str) -> str:
    return hashlib.sha256(normalise_claim_code(code).encode()).hexdigest()
