"""``/auth``: registration, login (OAuth2 form and JSON) and the current user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from cloud.api.deps import CREDENTIALS_ERROR, AppServices, CurrentUser, ServicesDep
from cloud.api.ratelimit import RateLimitedError
from cloud.api.schemas import LoginRequest, LoginResponse, Token, UserCreate, UserRead, UserSummary
from cloud.storage import DuplicateEmailError
from cloud.storage.records import User

router = APIRouter(prefix="/auth", tags=["auth"])

INVALID_LOGIN = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Incorrect email or password",
    headers={"WWW-Authenticate": "Bearer"},
)


@router.post("/register", response_model=UserRead, status_code=status.HTTP_201_CREATED)
async def register(body: UserCreate, services: ServicesDep) -> User:
    password_hash = services.hasher.hash(body.password)
    try:
        return await services.storage.create_user(body.email, password_hash, body.name)
    except DuplicateEmailError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Email already registered") from None


async def _authenticate(services: AppServices, request: Request, email: str, password: str) -> User:
    """The account for these credentials. Unknown e-mail and wrong password are the same 401
    (and cost the same hashing time); repeated failures from one address or for one account
    are refused with 429 before any password is checked."""
    client = request.client.host if request.client else "unknown"
    keys = (f"address:{client}", f"account:{email.strip().lower()}")
    try:
        services.login_limiter.check(*keys)
    except RateLimitedError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many failed login attempts; try again in {exc.retry_after_s:.0f} s",
            headers={"Retry-After": f"{exc.retry_after_s:.0f}"},
        ) from None
    credentials = await services.storage.get_credentials(email)
    password_hash = None if credentials is None else credentials.password_hash
    if not services.hasher.verify(password, password_hash) or credentials is None:
        services.login_limiter.record_failure(*keys)
        raise INVALID_LOGIN
    services.login_limiter.record_success(keys[1])
    return credentials.user


@router.post("/token", response_model=Token)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], services: ServicesDep, request: Request
) -> Token:
    user = await _authenticate(services, request, form.username, form.password)
    return Token(access_token=services.tokens.issue_access_token(user.id))


@router.post("/login", response_model=LoginResponse)
async def login(body: LoginRequest, services: ServicesDep, request: Request) -> LoginResponse:
    user = await _authenticate(services, request, body.email, body.password)
    return LoginResponse(
        access_token=services.tokens.issue_access_token(user.id),
        user=UserSummary(id=user.id, email=user.email, name=user.name),
    )


@router.get("/me", response_model=UserRead, responses={401: {"description": "Invalid token"}})
async def me(user: CurrentUser) -> User:
    return user


__all__ = ["CREDENTIALS_ERROR", "router"]
