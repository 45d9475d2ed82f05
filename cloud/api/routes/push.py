"""``/push``: Web Push subscriptions and acknowledging an alarm from its notification
(docs/api.md, "Push notifications")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Path, Response, status
from fastapi.exceptions import RequestValidationError

from cloud.api.deps import (
    AUTH_RESPONSES,
    UNDECODABLE_BODY_RESPONSES,
    AppServices,
    CurrentUser,
    ServicesDep,
)
from cloud.api.device_schemas import AlertRead
from cloud.api.push_schemas import (
    PushAck,
    PushConfigRead,
    PushSubscriptionCreate,
    PushSubscriptionRead,
)
from cloud.api.routes.alerts import acknowledged_view
from cloud.push.ack_token import AckTokenError
from cloud.push.channel import endpoint_host
from cloud.push.endpoints import SubscriptionRefused, check_endpoint, check_keys
from cloud.storage.push_records import NewPushSubscription, PushSubscription
from cloud.storage.records import AlertView

router = APIRouter(prefix="/push", tags=["push"])

CHANNELS = ["webpush"]
NOT_CONFIGURED = (
    "push notifications are not configured on this server (the operator sets "
    "NURSERY_VAPID_PRIVATE_KEY and NURSERY_VAPID_SUBJECT; see `nursery-cloud push-keys`)"
)
MAX_USER_AGENT = 300
# On POST /push/ack's answer when someone else had taken the alarm: who (their name).
TAKEN_BY_HEADER = "X-Acknowledged-By-Name"


def _read(subscription: PushSubscription) -> PushSubscriptionRead:
    return PushSubscriptionRead(
        id=subscription.id,
        channel=subscription.channel,
        endpoint_host=endpoint_host(subscription.endpoint),
        label=subscription.label,
        created_at=subscription.created_at,
        last_success_at=subscription.last_success_at,
        last_failure_at=subscription.last_failure_at,
        failures=subscription.failures,
    )


def _refused(field: str, reason: str) -> RequestValidationError:
    """A subscription the server cannot use, answered as FastAPI answers invalid input (422,
    ``detail[].msg`` the reason), so clients handle one 422 shape."""
    return RequestValidationError([
        {"type": "value_error", "loc": ("body", field), "msg": reason, "input": None}
    ])  # fmt: skip


@router.get("/config", response_model=PushConfigRead)
async def push_config(services: ServicesDep) -> PushConfigRead:
    """Whether this server sends push notifications, and the key to subscribe with. Public: the
    dashboard asks before anyone signs in."""
    key = services.push_public_key if services.push is not None else None
    return PushConfigRead(
        enabled=key is not None,
        application_server_key=key,
        channels=CHANNELS if key is not None else [],
    )


@router.post(
    "/subscriptions",
    response_model=PushSubscriptionRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **AUTH_RESPONSES,
        **UNDECODABLE_BODY_RESPONSES,
        200: {
            "model": PushSubscriptionRead,
            "description": "the endpoint was registered already: it is now the caller's, "
            "with the keys given",
        },
        409: {"description": "push notifications are not configured on this server"},
    },
)
async def register_subscription(
    body: PushSubscriptionCreate,
    user: CurrentUser,
    services: ServicesDep,
    response: Response,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> PushSubscriptionRead:
    """Register this browser (``PushSubscription.toJSON()``) for the caller's alerts. An
    endpoint registered before - by anyone - becomes the caller's: it belongs to one browser
    profile, and the last account signed in there gets its notifications. A user keeps at most
    20; registering another removes the least recently registered.

    422, in the shape of any invalid input with the reason in ``msg``: an endpoint that is not
    https or not on a push service this server sends to (``NURSERY_PUSH_ENDPOINT_HOSTS``), keys
    that are not a P-256 point and a 16-byte secret, or a channel this server cannot send to
    yet (``fcm``, ``apns``)."""
    if body.channel != "webpush":
        raise _refused("channel", f"channel {body.channel!r} is not available yet on this server")
    settings = services.push
    if settings is None:
        raise HTTPException(status.HTTP_409_CONFLICT, NOT_CONFIGURED)
    try:
        check_endpoint(body.endpoint, settings.endpoint_hosts, settings.allow_http)
    except SubscriptionRefused as refused:
        raise _refused("endpoint", str(refused)) from None
    try:
        check_keys(body.keys.p256dh, body.keys.auth)
    except SubscriptionRefused as refused:
        raise _refused("keys", str(refused)) from None
    new = NewPushSubscription(
        user_id=user.id,
        channel=body.channel,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        label=body.label,
        user_agent=None if user_agent is None else user_agent[:MAX_USER_AGENT],
    )
    subscription, created = await services.storage.register_push_subscription(
        new, datetime.now(UTC)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _read(subscription)


@router.get("/subscriptions", response_model=list[PushSubscriptionRead], responses=AUTH_RESPONSES)
async def list_subscriptions(
    user: CurrentUser, services: ServicesDep
) -> list[PushSubscriptionRead]:
    """The caller's registered browsers, oldest first."""
    return [_read(sub) for sub in await services.storage.list_push_subscriptions(user.id)]


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**AUTH_RESPONSES, 404: {"description": "no such subscription of the caller"}},
)
async def delete_subscription(
    subscription_id: Annotated[int, Path(ge=1, le=2**62)],
    user: CurrentUser,
    services: ServicesDep,
) -> Response:
    """Stop pushing to this browser (the dashboard also unsubscribes it there)."""
    if not await services.storage.delete_push_subscription(user.id, subscription_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Subscription not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/ack",
    response_model=AlertRead,
    responses={
        **UNDECODABLE_BODY_RESPONSES,
        401: {
            "description": "the token is invalid or expired, its sign-in has ended, or its "
            "subscription was removed or belongs to another account now"
        },
        404: {"description": "the alert is no longer visible to the token's user"},
    },
)
async def acknowledge_from_notification(
    body: PushAck, services: ServicesDep, response: Response
) -> AlertView:
    """ "Acknowledge" on an alarm's notification: the service worker posts the token the push
    payload carried (it has no access token). Acknowledges exactly like
    ``POST /alerts/{id}/ack`` as the token's user - escalation stops, every screen is told, the
    other phones' notifications become "Acknowledged" - and records that it was done from this
    notification. Logging out everywhere revokes the token, and so does removing the
    subscription (Sign out, Turn off) or its browser signing in to another account.

    An alarm someone else took already is answered 200 as well (repeating changes nothing);
    then ``X-Acknowledged-By-Name`` carries the taker's name, percent-encoded UTF-8 (empty
    when the account has none), so the notification can say "Already taken by ..."."""
    if services.ack_tokens is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "acknowledge tokens are not accepted")
    try:
        grant = services.ack_tokens.verify(body.token)
    except AckTokenError as refused:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(refused)) from None
    user = await services.storage.get_user(grant.user_id)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the token's account no longer exists")
    if user.session_generation != grant.generation:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "the token's sign-in has ended (signed out everywhere)"
        )
    await _check_subscription(services, grant.subscription_id, user.id)
    now = datetime.now(UTC)
    taken = await services.storage.acknowledge_alert(user.id, grant.alert_id, now)
    if taken is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Alert not found")
    # "acknowledged" only when this request took it: acknowledged before (by someone else, or
    # by this user elsewhere), it was not taken from this notification.
    if taken.announcement == "acknowledged":
        await services.storage.acknowledge_push_delivery(grant.alert_id, grant.subscription_id, now)
    elif taken.acknowledged_by is not None and taken.acknowledged_by != user.id:
        taker = await services.storage.get_user(taken.acknowledged_by)
        name = "" if taker is None or taker.name is None else taker.name
        response.headers[TAKEN_BY_HEADER] = quote(name, safe="")
    return acknowledged_view(taken)


async def _check_subscription(services: AppServices, subscription_id: int, user_id: int) -> None:
    """The token speaks for the notification of one subscription of its user: once that is
    removed (Sign out, Turn off) or its endpoint moved to another account (the browser signed
    in there), the notifications still on that phone no longer act for the old user."""
    found = await services.storage.get_push_subscriptions([subscription_id])
    if not found:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this notification's subscription was removed (signed out or alarms turned off "
            "on that browser)",
        )
    if found[0].user_id != user_id:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this notification's browser is signed in to another account now",
        )
