"""The token that acknowledges an alarm from its notification: it round-trips, expires after
12 hours, refuses tampering, and is never mistaken for an access or refresh token (nor they
for it)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cloud.api.security import InvalidTokenError, TokenIssuer
from cloud.push.ack_token import AckGrant, AckTokenError, AckTokens

SECRET = "test-only-9fQ2vLr7Xa0KpZ3mWc8Ey5NbH1uTs6Gd"
GRANT = {"user_id": 3, "alert_id": 42, "subscription_id": 7, "generation": 2}


def tokens() -> AckTokens:
    return AckTokens(SECRET, "HS256")


def issue(issuer: AckTokens, now: datetime | None = None) -> str:
    return issuer.issue(user_id=3, alert_id=42, subscription_id=7, generation=2, now=now)


def test_a_token_round_trips_to_its_grant() -> None:
    token = issue(tokens())
    assert tokens().verify(token) == AckGrant(**GRANT)


def test_the_claims_are_the_documented_ones() -> None:
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    token = issue(tokens(), now=now)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {
        "typ": "alert_ack",
        "sub": "3",
        "alert": 42,
        "subscription": 7,
        "gen": 2,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=12)).timestamp()),
    }


def test_the_token_expires_after_twelve_hours() -> None:
    issued = datetime.now(UTC) - timedelta(hours=11, minutes=59)
    assert tokens().verify(issue(tokens(), now=issued)) == AckGrant(**GRANT)
    old = issue(tokens(), now=datetime.now(UTC) - timedelta(hours=12, seconds=1))
    with pytest.raises(AckTokenError, match="expired"):
        tokens().verify(old)
    short = AckTokens(SECRET, "HS256", ttl=timedelta(minutes=5))
    with pytest.raises(AckTokenError, match="expired"):
        short.verify(issue(short, now=datetime.now(UTC) - timedelta(minutes=6)))


def _tampered(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_a_tampered_or_foreign_token_is_refused() -> None:
    token = issue(tokens())
    with pytest.raises(AckTokenError, match="bad signature"):
        tokens().verify(_tampered(token, alert=43))
    with pytest.raises(AckTokenError, match="bad signature"):
        AckTokens("another-secret-of-enough-length-0123456789", "HS256").verify(token)
    with pytest.raises(AckTokenError, match="malformed"):
        tokens().verify("not.a.token")
    with pytest.raises(AckTokenError, match="malformed"):
        tokens().verify("")
    with pytest.raises(AckTokenError, match="too long"):
        tokens().verify("a" * 5000)
    # Only the configured algorithm: "none" and another HMAC are refused.
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = f"{header}.{token.split('.')[1]}."
    with pytest.raises(AckTokenError):
        tokens().verify(unsigned)
    with pytest.raises(AckTokenError, match=r"bad signature|malformed"):
        tokens().verify(issue(AckTokens(SECRET * 2, "HS512")))


def test_access_and_refresh_tokens_do_not_acknowledge() -> None:
    issuer = TokenIssuer(SECRET, "HS256", timedelta(minutes=30))
    access = issuer.issue_access_token(3, generation=2)
    refresh = issuer.issue_refresh_token(3, generation=2).token
    for token in (access, refresh):
        with pytest.raises(AckTokenError, match="typ"):
            tokens().verify(token)
    # Even one that carries the ack's claims but not its typ.
    now = datetime.now(UTC)
    lookalike = jwt.encode(
        {"type": "access", "sub": "3", "alert": 42, "subscription": 7, "gen": 2, "iat": now,
         "exp": now + timedelta(hours=1), "typ": "access"},
        SECRET,
        algorithm="HS256",
    )  # fmt: skip
    with pytest.raises(AckTokenError, match="typ must be 'alert_ack'"):
        tokens().verify(lookalike)


def test_an_ack_token_is_not_an_access_or_refresh_token() -> None:
    issuer = TokenIssuer(SECRET, "HS256", timedelta(minutes=30))
    token = issue(tokens())
    with pytest.raises(InvalidTokenError):
        issuer.access_claims(token)
    with pytest.raises(InvalidTokenError):
        issuer.verify_refresh_token(token)


@pytest.mark.parametrize(
    "changes",
    [{"alert": "42"}, {"subscription": True}, {"gen": 1.5}, {"sub": "three"}, {"alert": None}],
)
def test_malformed_claims_are_refused(changes: dict[str, object]) -> None:
    now = datetime.now(UTC)
    claims = {"typ": "alert_ack", "sub": "3", "alert": 42, "subscription": 7, "gen": 2,
              "iat": now, "exp": now + timedelta(hours=1)} | changes  # fmt: skip
    # PyJWT reads a null claim as a missing one.
    with pytest.raises(AckTokenError, match=r"malformed|no 'alert' claim"):
        tokens().verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_the_repr_shows_no_secret() -> None:
    assert SECRET not in repr(tokens())
