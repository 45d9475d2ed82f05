"""Who may hold a WebSocket, and for how long.

A socket is opened with an access token - in the first message (``{"action": "auth",
"token": ...}``, which keeps it out of URLs and so out of every log) or, as the parents' app
contract has it, in ``?token=``. It lives as long as that token would: it is closed with 1008
when the token expires, and when the user's sign-in generation moves on (logging out
everywhere, a new password). The client can send a fresh token on the open socket at any time
to extend it, so nothing is missed across a token's expiry.

The close reasons tell the client what to do: ``token expired`` - refresh the token and send it
(or reconnect); ``session ended`` and ``invalid token`` - sign in again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from cloud.api.security import AccessClaims, ExpiredTokenError, InvalidTokenError, TokenIssuer
from cloud.storage import Storage

AUTH_TIMEOUT_S = 10.0  # for the first message, when the URL carries no token

TOKEN_EXPIRED = "token expired"  # noqa: S105 - a close reason, not a secret
SESSION_ENDED = "session ended"
INVALID_TOKEN = "invalid token"  # noqa: S105 - a close reason, not a secret


@dataclass(frozen=True, slots=True)
class SocketGrant:
    """What a verified token allows a socket: whose alerts, in which sign-in generation,
    until when."""

    user_id: int
    generation: int
    expires_at: datetime


class SocketRefused(Exception):  # noqa: N818 - a refusal, not a failure
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def auth_token(text: str) -> str | None:
    """The token of an ``{"action": "auth", "token": ...}`` message; None for anything else."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("action") != "auth":
        return None
    token = message.get("token")
    return token if isinstance(token, str) and token else None


async def grant(tokens: TokenIssuer, storage: Storage, token: str, user_id: int) -> SocketGrant:
    """The grant of ``token`` for the socket of ``user_id``; raises SocketRefused with the
    reason to close with."""
    try:
        claims: AccessClaims = tokens.access_claims(token)
    except ExpiredTokenError:
        raise SocketRefused(TOKEN_EXPIRED) from None
    except InvalidTokenError:
        raise SocketRefused(INVALID_TOKEN) from None
    if claims.user_id != user_id:
        raise SocketRefused(INVALID_TOKEN)
    user = await storage.get_user(user_id)
    if user is None:
        raise SocketRefused(INVALID_TOKEN)
    if not claims.is_current(user.session_generation):
        raise SocketRefused(SESSION_ENDED)
    return SocketGrant(user_id, claims.generation, claims.expires_at)
