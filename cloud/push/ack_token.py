"""The token that acknowledges an alarm from its notification (``POST /push/ack``).

The service worker that shows a notification has no access token, so each alarm's push carries
a token of its own: scoped to one user, one alert and one subscription, valid 12 hours, and
bound to the user's sign-in generation so that logging out everywhere revokes it (the caller
compares ``AckGrant.generation`` with the user's). It is an HMAC JWT under ``JWT_SECRET`` like
the access tokens, told apart by ``typ="alert_ack"``: access and refresh tokens carry
``type`` instead, so neither kind passes for the other. It travels only inside the end-to-end
encrypted push payload, which the push service cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ACK_TOKEN_TYPE = "alert_ack"  # noqa: S105 - a claim value, not a secret
# Far above a real token (~300 characters); the endpoint is unauthenticated, so garbage is
# refused before it is parsed.
MAX_TOKEN_LENGTH = 4096
_REQUIRED = ["exp", "iat", "sub", "typ", "alert", "subscription", "gen"]


class AckTokenError(Exception):
    """The token cannot acknowledge anything; the message is the reason given with the 401."""


@dataclass(frozen=True, slots=True)
class AckGrant:
    """What a verified token allows: ``user_id`` acknowledges ``alert_id`` from the notification
    sent to ``subscription_id``, if ``generation`` is still the user's sign-in generation."""

    user_id: int
    alert_id: int
    subscription_id: int
    generation: int


def _whole_number(claims: dict[str, object], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, str) and name == "sub" and value.isdigit():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise AckTokenError(f"malformed acknowledge token ({name})")
    return value


class AckTokens:
    def __init__(self, secret: str, algorithm: str, ttl: timedelta = timedelta(hours=12)) -> None:
        self._secret = secret
        self._algorithm = algorithm
        self._ttl = ttl

    def __repr__(self) -> str:
        return f"AckTokens(algorithm={self._algorithm!r}, ttl={self._ttl!r})"

    def issue(
        self,
        *,
        user_id: int,
        alert_id: int,
        subscription_id: int,
        generation: int,
        now: datetime | None = None,
    ) -> str:
        issued_at = now or datetime.now(UTC)
        claims = {
            "typ": ACK_TOKEN_TYPE,
            "sub": str(user_id),
            "alert": alert_id,
            "subscription": subscription_id,
            "gen": generation,
            "iat": issued_at,
            "exp": issued_at + self._ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def verify(self, token: str) -> AckGrant:
        """What a well-formed, unexpired acknowledge token allows; raises AckTokenError with
        the reason otherwise. Whether the generation is current, the alert still visible and
        the subscription the user's is for the caller to check."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise AckTokenError("malformed acknowledge token (too long)")
        try:
            # Only the configured algorithm: no "none", no algorithm confusion.
            claims: dict[str, object] = jwt.decode(
                token, self._secret, algorithms=[self._algorithm], options={"require": _REQUIRED}
            )
        except jwt.ExpiredSignatureError:
            raise AckTokenError("the acknowledge token has expired") from None
        except jwt.InvalidSignatureError:
            raise AckTokenError("invalid acknowledge token (bad signature)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AckTokenError(f"not an acknowledge token (no {exc.claim!r} claim)") from None
        except jwt.PyJWTError:
            raise AckTokenError("malformed acknowledge token") from None
        if claims.get("typ") != ACK_TOKEN_TYPE:
            raise AckTokenError(f"not an acknowledge token (typ must be {ACK_TOKEN_TYPE!r})")
        return AckGrant(
            user_id=_whole_number(claims, "sub"),
            alert_id=_whole_number(claims, "alert"),
            subscription_id=_whole_number(claims, "subscription"),
            generation=_whole_number(claims, "gen"),
        )
