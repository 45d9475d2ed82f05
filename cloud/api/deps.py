"""Request dependencies: the storage, security services and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from cloud.api.cry_analysis import CryAnalyzer
from cloud.api.device_config import DesiredConfigPublisher
from cloud.api.password_work import PasswordWork
from cloud.api.ratelimit import LoginRateLimiter, LoginThrottle
from cloud.api.realtime import AlertBroadcaster
from cloud.api.security import InvalidTokenError, PasswordHasher, TokenIssuer
from cloud.config import ProvisioningSettings
from cloud.push.ack_token import AckTokens
from cloud.push.pipeline import PushPipeline
from cloud.push.settings import PushSettings
from cloud.storage import Storage
from cloud.storage.records import User
from cloud.uploads import AudioStore


@dataclass(frozen=True, slots=True)
class AppServices:
    """Everything a request handler may need, built once in the app's lifespan."""

    storage: Storage
    hasher: PasswordHasher
    tokens: TokenIssuer
    # Failed device claims (sliding window per user).
    login_limiter: LoginRateLimiter
    # The login policy (per address with backoff, per account paced) and registrations per
    # address; argon2 runs in ``passwords``' own threads.
    login_throttle: LoginThrottle
    registration_limiter: LoginRateLimiter
    passwords: PasswordWork
    analyzer: CryAnalyzer
    audio_store: AudioStore
    broadcaster: AlertBroadcaster
    # None when no broker is configured (MQTT_HOST unset): settings are stored, not pushed.
    config_publisher: DesiredConfigPublisher | None
    # None when device provisioning is not configured (MOSQUITTO_PASSWORD_FILE unset).
    provisioning: ProvisioningSettings | None = None
    # Verifies the tokens of "Acknowledge" on a notification (POST /push/ack); made even when
    # push is off, so tokens sent before it was turned off still work until they expire.
    ack_tokens: AckTokens | None = None
    # Web Push; None when not configured (NURSERY_VAPID_PRIVATE_KEY unset).
    push: PushSettings | None = None
    # The VAPID public key browsers subscribe with (derived from push's private key).
    push_public_key: str | None = None
    push_pipeline: PushPipeline | None = None


def get_services(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


ServicesDep = Annotated[AppServices, Depends(get_services)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token")

CREDENTIALS_ERROR = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Could not validate credentials",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_current_user(
    token: Annotated[str, Depends(oauth2_scheme)], services: ServicesDep
) -> User:
    try:
        claims = services.tokens.access_claims(token)
    except InvalidTokenError:
        raise CREDENTIALS_ERROR from None
    user = await services.storage.get_user(claims.user_id)
    # A token from before the user logged out everywhere or changed the password is refused.
    if user is None or not claims.is_current(user.session_generation):
        raise CREDENTIALS_ERROR
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
# The OpenAPI declaration for every route that takes CurrentUser: a missing, malformed, expired
# or deleted account's token is answered 401 before the route runs.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {"description": "Missing, invalid or expired access token"}
}
# The OpenAPI declaration for every route with a JSON body: FastAPI answers 400 when the body
# cannot be decoded (not UTF-8); a body that decodes but is not valid JSON is a 422.
UNDECODABLE_BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"description": "The request body could not be decoded"}
}


async def get_installer(user: CurrentUser) -> User:
    if user.role != "installer":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only installer accounts may do this")
    return user


InstallerUser = Annotated[User, Depends(get_installer)]
INSTALLER_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    status.HTTP_403_FORBIDDEN: {"description": "the account is not an installer account"},
}
