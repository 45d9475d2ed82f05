"""Mosquitto's own password hash format, so the broker can check what we write.

Mosquitto 2.0 stores ``user:$7$<iterations>$<base64 salt>$<base64 hash>``: PBKDF2-HMAC-SHA512
with a 12-byte random salt, 101 iterations and a 64-byte key (``mosquitto_passwd`` does the
same; see ``pw__hash`` in its source). A low iteration count is Mosquitto's choice: device
passwords are 192-bit random strings, so the hash only has to hide them, not slow a guesser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 101
SALT_BYTES = 12
KEY_BYTES = 64
PREFIX = "$7$"


class PasswordFormatError(ValueError):
    """A stored hash is not in the ``$7$`` format."""


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The password-file hash of ``password`` (without the ``user:`` part)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, KEY_BYTES)
    return (
        f"{PREFIX}{iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (as the broker would decide)."""
    if not stored.startswith(PREFIX):
        raise PasswordFormatError("not a Mosquitto $7$ password hash")
    try:
        iterations_text, salt_text, key_text = stored.removeprefix(PREFIX).split("$")
        iterations = int(iterations_text)
        salt = base64.b64decode(salt_text, validate=True)
        key = base64.b64decode(key_text, validate=True)
    except ValueError as exc:
        raise PasswordFormatError("not a Mosquitto $7$ password hash") from exc
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(key))
    return hmac.compare_digest(candidate, key)
