"""Access tokens reject tampering, expiry, alg=none and the wrong type; passwords are argon2."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cloud.api.security import InvalidTokenError, PasswordHasher, TokenIssuer

SECRET = "unit-test-secret-0123456789-0123456789"


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(secret=SECRET, algorithm="HS256", access_ttl=timedelta(minutes=30))


def test_round_trip(issuer: TokenIssuer) -> None:
    assert issuer.verify_access_token(issuer.issue_access_token(42)) == 42


def test_expired_token_is_rejected(issuer: TokenIssuer) -> None:
    old = issuer.issue_access_token(42, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(InvalidTokenError, match="expired"):
        issuer.verify_access_token(old)


def test_tampered_token_is_rejected(issuer: TokenIssuer) -> None:
    header, payload, signature = issuer.issue_access_token(42).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "1"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError):
        issuer.verify_access_token(f"{header}.{forged}.{signature}")


def test_alg_none_is_rejected(issuer: TokenIssuer) -> None:
    now = datetime.now(UTC)
    unsigned = jwt.encode(
        {"sub": "42", "type": "access", "iat": now, "exp": now + timedelta(minutes=5)},
        key="",  # what PyJWT takes for "no key" with alg none
        algorithm="none",
    )
    with pytest.raises(InvalidTokenError):
        issuer.verify_access_token(unsigned)


def test_wrong_type_and_other_secret_are_rejected(issuer: TokenIssuer) -> None:
    now = datetime.now(UTC)
    refresh = jwt.encode(
        {"sub": "42", "type": "refresh", "iat": now, "exp": now + timedelta(minutes=5)},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(InvalidTokenError, match="wrong token type"):
        issuer.verify_access_token(refresh)
    other = TokenIssuer("another-secret-0123456789-0123456789", "HS256", timedelta(minutes=5))
    with pytest.raises(InvalidTokenError):
        issuer.verify_access_token(other.issue_access_token(42))


def test_passwords_are_hashed_with_argon2() -> None:
    hasher = PasswordHasher()
    hashed = hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert hasher.verify("correct horse", hashed)
    assert not hasher.verify("wrong horse", hashed)
    assert not hasher.verify("correct horse", None)
