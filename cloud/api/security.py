"""Password hashing (argon2 via pwdlib) and access tokens (JWT via PyJWT)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret
REFRESH_TOKEN_TYPE = "refresh"  # noqa: S105 - a claim value, not a secret


class InvalidTokenError(ValueError):
    """The token is malformed, tampered with, expired, or of the wrong type."""


class ExpiredTokenError(InvalidTokenError):
    """The token was valid but its lifetime is over: refresh it (or sign in) and try again."""


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
class RefreshToken:
    """A refresh token and what the server keeps about it (never the token itself)."""

    token: str = field(repr=False)
    token_id: str
    family_id: str
    user_id: int
    # The sign-in generation the token was issued for (see AccessClaims.generation).
    generation: int
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    """What a verified refresh token says. Whether it is still stored alive, and whether its
    generation is still the user's, is for the caller to check."""

    user_id: int
    token_id: str
    family_id: str
    generation: int

    def is_current(self, session_generation: int) -> bool:
        """Issued in the user's current sign-in generation: a sign-in that read the
        credentials before a logout everywhere or a new password cannot outlive it."""
        return self.generation == session_generation


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The parts of a verified access token that decide how long it may be used."""

    user_id: int
    generation: int
    expires_at: datetime

    def is_current(self, session_generation: int) -> bool:
        """Issued in the user's current sign-in generation (not ended by logging out
        everywhere or by a new password since)."""
        return self.generation == session_generation


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    secret: str
    algorithm: str
    access_ttl: timedelta
    refresh_ttl: timedelta = timedelta(days=30)

    def issue_refresh_token(
        self,
        user_id: int,
        generation: int,
        family_id: str | None = None,
        now: datetime | None = None,
    ) -> RefreshToken:
        """A long-lived, single-use token for the sign-in ``generation`` read with the
        credentials. Each use hands out its successor in the same family; presenting a used
        one again means it was copied, and the family is revoked."""
        issued_at = now or datetime.now(UTC)
        token_id = secrets.token_urlsafe(16)
        family = family_id or secrets.token_urlsafe(16)
        claims = {
            "sub": str(user_id),
            "type": REFRESH_TOKEN_TYPE,
            "jti": token_id,
            "fam": family,
            "gen": generation,
            "iat": issued_at,
            "exp": issued_at + self.refresh_ttl,
        }
        token = jwt.encode(claims, self.secret, algorithm=self.algorithm)
        return RefreshToken(
            token, token_id, family, user_id, generation, issued_at, issued_at + self.refresh_ttl
        )

    def verify_refresh_token(self, token: str) -> RefreshClaims:
        """What a well-formed, unexpired refresh token says; raises InvalidTokenError
        otherwise."""
        claims = self._decode(
            token, REFRESH_TOKEN_TYPE, ["exp", "iat", "sub", "type", "jti", "fam"]
        )
        return RefreshClaims(
            self._subject(claims), str(claims["jti"]), str(claims["fam"]), _generation(claims)
        )

    def issue_access_token(
        self, user_id: int, generation: int = 0, now: datetime | None = None
    ) -> str:
        """A short-lived token for the user's current sign-in ``generation``
        (``User.session_generation``): logging out everywhere moves it on, ending the token."""
        issued_at = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "type": ACCESS_TOKEN_TYPE,
            "gen": generation,
            "iat": issued_at,
            "exp": issued_at + self.access_ttl,
        }
        return jwt.encode(claims, self.secret, algorithm=self.algorithm)

    def verify_access_token(self, token: str) -> int:
        """Return the user id the token was issued to; raises InvalidTokenError otherwise."""
        return self.access_claims(token).user_id

    def access_claims(self, token: str) -> AccessClaims:
        """What a well-formed, unexpired access token says; raises InvalidTokenError otherwise.
        Whether its generation is still the user's is for the caller to check."""
        claims = self._decode(token, ACCESS_TOKEN_TYPE, ["exp", "iat", "sub", "type"])
        expires = claims["exp"]
        if not isinstance(expires, int | float):
            raise InvalidTokenError("malformed expiry")
        return AccessClaims(
            self._subject(claims), _generation(claims), datetime.fromtimestamp(expires, UTC)
        )

    def _decode(self, token: str, token_type: str, required: list[str]) -> dict[str, object]:
        try:
            # Only the configured algorithm is accepted: no "none", no algorithm confusion.
            claims: dict[str, object] = jwt.decode(
                token, self.secret, algorithms=[self.algorithm], options={"require": required}
            )
        except jwt.ExpiredSignatureError as exc:
            raise ExpiredTokenError(str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from exc
        if claims.get("type") != token_type:
            raise InvalidTokenError(f"wrong token type (expected {token_type})")
        return claims

    @staticmethod
    def _subject(claims: dict[str, object]) -> int:
        try:
            return int(str(claims["sub"]))
        except (TypeError, ValueError):
            raise InvalidTokenError("malformed subject") from None


def _generation(claims: dict[str, object]) -> int:
    # Tokens issued before generations existed carry none: they belong to generation 0.
    generation = claims.get("gen", 0)
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise InvalidTokenError("malformed generation")
    return generation
