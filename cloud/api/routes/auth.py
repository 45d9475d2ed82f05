"""``/auth``: registration, login (OAuth2 form and JSON) and the current user."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from cloud.api.deps import (
    CREDENTIALS_ERROR,
    UNDECODABLE_BODY_RESPONSES,
    AppServices,
    CurrentUser,
    ServicesDep,
)
from cloud.api.device_schemas import RefreshRequest
from cloud.api.password_work import HashingBusyError
from cloud.api.ratelimit import RateLimitedError, source_key
from cloud.api.schemas import (
    LoginRequest,
    LoginResponse,
    PasswordChange,
    Token,
    UserCreate,
    UserRead,
    UserSummary,
)
from cloud.api.security import InvalidTokenError
from cloud.storage import DuplicateEmailError
from cloud.storage.emails import email_key
from cloud.storage.records import User

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/auth", tags=["auth"])

INVALID_LOGIN = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Incorrect email or password",
    headers={"WWW-Authenticate": "Bearer"},
)


def _client_address(request: Request) -> str:
    """The peer's limiter key (an IPv6 address by its /64). Behind a reverse proxy uvicorn puts
    the X-Forwarded-For client here, but only for proxies listed in FORWARDED_ALLOW_IPS
    (docs/operations.md): a client cannot pick its own limiter key with a header."""
    return source_key(request.client.host) if request.client else "unknown"


def _too_many(what: str, exc: RateLimitedError | HashingBusyError, code: int) -> HTTPException:
    wait = f"{exc.retry_after_s:.0f}"
    return HTTPException(code, f"{what}; try again in {wait} s", headers={"Retry-After": wait})


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        400: {"description": "Email already registered, or an undecodable body"},
        429: {"description": "Too many registrations from this address (see Retry-After)"},
        503: {"description": "Too many registrations at once (see Retry-After)"},
    },
)
async def register(body: UserCreate, services: ServicesDep, request: Request) -> User:
    try:
        services.registration_limiter.attempt(f"register:{_client_address(request)}")
    except RateLimitedError as exc:
        raise _too_many(
            "Too many registrations from this address", exc, status.HTTP_429_TOO_MANY_REQUESTS
        ) from None
    try:
        password_hash = await services.passwords.hash_for_registration(body.password)
    except HashingBusyError as exc:
        raise _too_many(
            "Too many registrations at once", exc, status.HTTP_503_SERVICE_UNAVAILABLE
        ) from None
    try:
        return await services.storage.create_user(body.email, password_hash, body.name)
    except DuplicateEmailError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Email already registered") from None


# What a login can answer besides 200 and 422 (both login routes share _authenticate).
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Incorrect email or password (or every sign-in ended meanwhile)"},
    429: {"description": "Too many failed logins from this address, or for this account"},
}


async def _authenticate(services: AppServices, request: Request, email: str, password: str) -> User:
    """The account for these credentials. Unknown e-mail and wrong password are the same 401
    (and cost the same hashing time); failures are limited per address (refused, with a
    doubling backoff) and per account (paced, never locked: docs/api.md, rate limits) before
    any password is checked."""
    source, account = _client_address(request), email_key(email)
    try:
        services.login_throttle.attempt(source, account)
    except RateLimitedError as exc:
        raise _too_many(
            "Too many failed login attempts", exc, status.HTTP_429_TOO_MANY_REQUESTS
        ) from None
    # No account's e-mail holds a NUL (registration validates e-mails) and PostgreSQL text cannot
    # carry one: such a name is an unknown account, without asking the database.
    credentials = None if "\x00" in email else await services.storage.get_credentials(email)
    password_hash = None if credentials is None else credentials.password_hash
    # argon2 runs in the hashing threads, off the event loop and ahead of queued registrations.
    valid = await services.passwords.verify(password, password_hash)
    if not valid or credentials is None:
        raise INVALID_LOGIN
    services.login_throttle.succeeded(source, account)
    return credentials.user


@router.post("/token", response_model=Token, responses=LOGIN_RESPONSES)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], services: ServicesDep, request: Request
) -> Token:
    user = await _authenticate(services, request, form.username, form.password)
    return await _new_session(services, user)


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={**UNDECODABLE_BODY_RESPONSES, **LOGIN_RESPONSES},
)
async def login(body: LoginRequest, services: ServicesDep, request: Request) -> LoginResponse:
    user = await _authenticate(services, request, body.email, body.password)
    session = await _new_session(services, user)
    return LoginResponse(
        **session.model_dump(), user=UserSummary(id=user.id, email=user.email, name=user.name)
    )


SESSIONS_ENDED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Every sign-in was ended meanwhile (a new password or logout everywhere); sign in again",
    headers={"WWW-Authenticate": "Bearer"},
)


async def _new_session(services: AppServices, user: User, family_id: str | None = None) -> Token:
    """An access token and a refresh token (stored by id and family, never the token), both
    for ``user.session_generation`` as read with the credentials (or the refresh token). A
    logout everywhere or a new password that moved the generation on since (while argon2 ran,
    say) ends this sign-in before it starts: the token is stored revoked, and the answer is 401."""
    generation = user.session_generation
    refresh = services.tokens.issue_refresh_token(user.id, generation, family_id)
    alive = await services.storage.store_refresh_token(
        refresh.token_id,
        user.id,
        refresh.family_id,
        refresh.issued_at,
        refresh.expires_at,
        generation,
    )
    if not alive:
        logger.info("sign-in of user %d ended before it started (generation moved on)", user.id)
        raise SESSIONS_ENDED if family_id is None else INVALID_REFRESH
    return Token(
        access_token=services.tokens.issue_access_token(user.id, generation),
        expires_in=int(services.tokens.access_ttl.total_seconds()),
        refresh_token=refresh.token,
    )


INVALID_REFRESH = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Invalid or expired refresh token; sign in again",
    headers={"WWW-Authenticate": "Bearer"},
)


@router.post(
    "/refresh",
    response_model=Token,
    responses={**UNDECODABLE_BODY_RESPONSES, 401: {"description": "sign in again"}},
)
async def refresh(body: RefreshRequest, services: ServicesDep) -> Token:
    """Swap a refresh token for a new access token and a new refresh token (rotation). A
    refresh token works once: presenting it again revokes its whole family, since only a
    copy - a stolen token - would be presented twice. A token of an older sign-in generation
    (issued to a sign-in that read the credentials before a logout everywhere or a new
    password) is refused the same way, and its family revoked."""
    try:
        claims = services.tokens.verify_refresh_token(body.refresh_token)
    except InvalidTokenError:
        raise INVALID_REFRESH from None
    now = datetime.now(UTC)
    outcome, _owner = await services.storage.use_refresh_token(claims.token_id, now)
    if outcome == "reused":
        logger.warning("refresh token reused for user %d: family revoked", claims.user_id)
    user = None if outcome != "ok" else await services.storage.get_user(claims.user_id)
    if user is None:
        raise INVALID_REFRESH
    if not claims.is_current(user.session_generation):
        logger.warning("refresh token of an ended sign-in for user %d: family revoked", user.id)
        await services.storage.revoke_refresh_family(claims.family_id, now)
        raise INVALID_REFRESH
    return await _new_session(services, user, claims.family_id)


@router.post(
    "/logout", status_code=status.HTTP_204_NO_CONTENT, responses=UNDECODABLE_BODY_RESPONSES
)
async def logout(body: RefreshRequest, services: ServicesDep) -> Response:
    """End this sign-in: its refresh token family stops working. Access tokens already handed
    out expire on their own (ACCESS_TOKEN_EXPIRE_MINUTES)."""
    try:
        claims = services.tokens.verify_refresh_token(body.refresh_token)
    except InvalidTokenError:
        return Response(status_code=status.HTTP_204_NO_CONTENT)  # nothing to end
    await services.storage.revoke_refresh_family(claims.family_id, datetime.now(UTC))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"description": "Invalid token"}},
)
async def logout_all(user: CurrentUser, services: ServicesDep) -> Response:
    """End every sign-in of the caller (a lost phone): refresh tokens, access tokens and open
    WebSockets, on every API process."""
    await _end_sessions(services, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _end_sessions(
    services: AppServices, user_id: int, password_hash: str | None = None
) -> User:
    """Move the user's sign-in generation on (and set the new password, if any): every token
    issued before stops working; this process closes its sockets at once, the others within
    their revocation check (cloud/api/realtime.py)."""
    generation = await services.storage.end_sessions(user_id, datetime.now(UTC), password_hash)
    user = await services.storage.get_user(user_id)
    if generation is None or user is None:
        raise CREDENTIALS_ERROR
    services.broadcaster.end_sessions(user_id, generation)
    return user


@router.post(
    "/password",
    response_model=Token,
    responses={
        **UNDECODABLE_BODY_RESPONSES,
        401: {"description": "Invalid token"},
        403: {"description": "The current password is wrong"},
        429: {"description": "Too many failed attempts"},
        503: {"description": "Password hashing is busy; try again after Retry-After"},
    },
)
async def change_password(
    body: PasswordChange, user: CurrentUser, services: ServicesDep, request: Request
) -> Token:
    """Set a new password. Every sign-in ends (as with logout-all); the answer is a new
    session for the caller, so this device stays signed in."""
    try:
        await _authenticate(services, request, user.email, body.current_password)
    except HTTPException as exc:
        if exc.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        # Not 401: the caller's token is fine, and a 401 would make an app refresh it.
        raise HTTPException(status.HTTP_403_FORBIDDEN, "The current password is wrong") from None
    try:
        password_hash = await services.passwords.hash_for_change(body.new_password)
    except HashingBusyError as exc:
        raise _too_many(
            "Too many password changes at once", exc, status.HTTP_503_SERVICE_UNAVAILABLE
        ) from None
    return await _new_session(services, await _end_sessions(services, user.id, password_hash))


@router.get("/me", response_model=UserRead, responses={401: {"description": "Invalid token"}})
async def me(user: CurrentUser) -> User:
    return user


__all__ = ["CREDENTIALS_ERROR", "router"]
