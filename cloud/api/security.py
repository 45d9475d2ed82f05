"""Password hashing (argon2 via pwdlib) and access tokens (JWT via PyJWT)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret


class InvalidTokenError(ValueError):
    """The token is malformed, tampered with, expired, or of the wrong type."""


class PasswordHasher:
    """argon2id with pwdlib's recommended parameters."""

    def __init__(self) -> None:
        self._hash = PasswordHash.recommended()
        # Verified against when the e-mail is unknown, so that a login for a missing account
        # costs as much as one with a wrong password (no user enumeration by timing).
        self._dummy_hash = self._hash.hash("not-a-real-password")

    def hash(self, password: str) -> str:
        return self._hash.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        if password_hash is None:
            self._hash.verify(password, self._dummy_hash)
            return False
        return self._hash.verify(password, password_hash)


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    secret: str
    algorithm: str
    access_ttl: timedelta

    def issue_access_token(self, user_id: int, now: datetime | None = None) -> str:
        issued_at = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "type": ACCESS_TOKEN_TYPE,
            "iat": issued_at,
            "exp": issued_at + self.access_ttl,
        }
        return jwt.encode(claims, self.secret, algorithm=self.algorithm)

    def verify_access_token(self, token: str) -> int:
        """Return the user id the token was issued to; raises InvalidTokenError otherwise."""
        try:
            # Only the configured algorithm is accepted: no "none", no algorithm confusion.
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[self.algorithm],
                options={"require": ["exp", "iat", "sub", "type"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from exc
        if claims.get("type") != ACCESS_TOKEN_TYPE:
            raise InvalidTokenError("not an access token")
        try:
            return int(claims["sub"])
        except (TypeError, ValueError):
            raise InvalidTokenError("malformed subject") from None
