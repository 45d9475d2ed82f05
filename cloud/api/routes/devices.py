"""``/devices``: claim a nursery device, name it, tune it, share it, see its cry episodes.

Access rules (checked in storage, on every call): members of a device - its owner and the
caregivers the owner invited - see it, its readings, alerts and episodes; only the owner renames
it, changes its settings, shares it or gives it up. Anyone else gets 404, never a hint that the
device exists.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from cloud.api.deps import AUTH_RESPONSES, UNDECODABLE_BODY_RESPONSES, CurrentUser, ServicesDep
from cloud.api.device_schemas import (
    CaregiverInvite,
    CaregiverRead,
    CryEpisodeRead,
    DeliveryStatsRead,
    DeviceClaim,
    DeviceRead,
    DeviceRename,
    DeviceSettingsRead,
    DeviceSettingsUpdate,
    GapRead,
    InviteAccepted,
)
from cloud.api.ignore_list_sync import send_ignore_list_after_commit
from cloud.api.ratelimit import RateLimitedError
from cloud.api.schemas import QueryTime
from cloud.claims import ClaimCodeError, hash_claim_code
from cloud.storage import AccessDeniedError, NotFoundError
from cloud.storage.records import Caregiver, CryEpisode, DeviceSummary, Gap
from models.contract.topics import DEVICE_ID_PATTERN

router = APIRouter(prefix="/devices", tags=["devices"], responses=AUTH_RESPONSES)

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN.pattern, max_length=64)]
NOT_FOUND = HTTPException(status.HTTP_404_NOT_FOUND, "Device not found")
OWNER_ONLY = HTTPException(status.HTTP_403_FORBIDDEN, "Only the device's owner may do this")
NOT_MEMBER: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such device, or not shared with the caller"}
}
OWNER_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_MEMBER,
    403: {"description": "the caller is a caregiver, not the owner"},
}


@router.post(
    "/claim",
    response_model=DeviceRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **UNDECODABLE_BODY_RESPONSES,
        400: {"description": "not a claim code, or an undecodable body"},
        404: {"description": "no device waits for this code (wrong, used or expired)"},
        429: {"description": "too many failed claims"},
    },
)
async def claim(body: DeviceClaim, user: CurrentUser, services: ServicesDep) -> DeviceSummary:
    key = f"claim:{user.id}"
    try:
        services.login_limiter.check(key)
        code_hash = hash_claim_code(body.claim_code)
    except RateLimitedError as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many failed claims; try again in {exc.retry_after_s:.0f} s",
            headers={"Retry-After": f"{exc.retry_after_s:.0f}"},
        ) from None
    except ClaimCodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    device = await services.storage.claim_device(user.id, code_hash, datetime.now(UTC), body.name)
    if device is None:
        services.login_limiter.record_failure(key)
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "No device waits for this claim code: it is wrong, used or expired",
        )
    services.broadcaster.forget_device(device.device_id)
    # The claim emptied the device's "not a cry" list (a new family starts with nothing
    # marked): the device is told, even if it kept the previous family's retained list.
    await send_ignore_list_after_commit(
        services.storage, services.config_publisher, device.device_id
    )
    return device


@router.get("", response_model=list[DeviceRead])
async def list_devices(user: CurrentUser, services: ServicesDep) -> list[DeviceSummary]:
    return await services.storage.list_devices(user.id)


@router.get("/{device_id}", response_model=DeviceRead, responses=NOT_MEMBER)
async def get_device(
    device_id: DeviceId, user: CurrentUser, services: ServicesDep
) -> DeviceSummary:
    device = await services.storage.get_device(user.id, device_id)
    if device is None:
        raise NOT_FOUND
    return device


@router.patch(
    "/{device_id}",
    response_model=DeviceRead,
    responses={**OWNER_RESPONSES, **UNDECODABLE_BODY_RESPONSES},
)
async def rename(
    device_id: DeviceId, body: DeviceRename, user: CurrentUser, services: ServicesDep
) -> DeviceSummary:
    try:
        return await services.storage.rename_device(user.id, device_id, body.name)
    except NotFoundError:
        raise NOT_FOUND from None
    except AccessDeniedError:
        raise OWNER_ONLY from None


@router.put(
    "/{device_id}/settings",
    response_model=DeviceSettingsRead,
    responses={
        **OWNER_RESPONSES,
        400: {"description": "an undecodable body"},
    },
)
async def update_settings(
    device_id: DeviceId, body: DeviceSettingsUpdate, user: CurrentUser, services: ServicesDep
) -> DeviceSettingsRead:
    """Change the nursery's alert rules and/or the device's own settings. Device settings are
    validated exactly as the device validates them and pushed to it as its retained desired
    config (``delivery`` says whether the broker has it yet). A setting that is unknown, not
    a finite number or out of its range is refused with 422 naming it (docs/api.md)."""
    try:
        device = await services.storage.update_device_settings(
            user.id,
            device_id,
            nursery=dict(body.nursery) if body.nursery is not None else None,
            device=dict(body.device) if body.device is not None else None,
        )
    except NotFoundError:
        raise NOT_FOUND from None
    except AccessDeniedError:
        raise OWNER_ONLY from None
    delivery = "unchanged"
    if body.device is not None:
        publisher = services.config_publisher
        if publisher is None:
            delivery = "not_configured"
        else:
            sent = publisher.publish(device_id, device.device_settings_revision, body.device)
            delivery = "sent" if sent else "queued"
    return DeviceSettingsRead.model_validate(
        {**DeviceRead.model_validate(device).model_dump(), "delivery": delivery}
    )


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT, responses=OWNER_RESPONSES)
async def unclaim(device_id: DeviceId, user: CurrentUser, services: ServicesDep) -> Response:
    """Give the device up: every member loses access; it can be claimed again with a new code."""
    try:
        await services.storage.unclaim_device(user.id, device_id)
    except NotFoundError:
        raise NOT_FOUND from None
    except AccessDeniedError:
        raise OWNER_ONLY from None
    services.broadcaster.forget_device(device_id)
    # The family's "not a cry" marks leave with them: the device stops ignoring their sounds.
    await send_ignore_list_after_commit(services.storage, services.config_publisher, device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{device_id}/caregivers", response_model=list[CaregiverRead], responses=NOT_MEMBER)
async def caregivers(
    device_id: DeviceId, user: CurrentUser, services: ServicesDep
) -> list[Caregiver]:
    try:
        return await services.storage.list_caregivers(user.id, device_id)
    except NotFoundError:
        raise NOT_FOUND from None


@router.post(
    "/{device_id}/caregivers",
    response_model=InviteAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**OWNER_RESPONSES, **UNDECODABLE_BODY_RESPONSES},
)
async def invite(
    device_id: DeviceId, body: CaregiverInvite, user: CurrentUser, services: ServicesDep
) -> InviteAccepted:
    """Share the nursery with another caregiver's account. The answer is the same whether or
    not an account exists for the address, so this cannot be used to discover accounts."""
    try:
        await services.storage.add_caregiver(user.id, device_id, str(body.email))
    except AccessDeniedError:
        raise OWNER_ONLY from None
    except NotFoundError:
        # Either the device is not the caller's or the invitee has no account: tell apart
        # only the first, which the caller is entitled to know.
        if await services.storage.get_device(user.id, device_id) is None:
            raise NOT_FOUND from None
    return InviteAccepted()


@router.delete(
    "/{device_id}/caregivers/{member_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=OWNER_RESPONSES,
)
async def revoke(
    device_id: DeviceId,
    member_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    user: CurrentUser,
    services: ServicesDep,
) -> Response:
    """The owner removes a caregiver; a caregiver may remove themself."""
    try:
        await services.storage.remove_caregiver(user.id, device_id, member_id)
        # The removed caregiver's live readings stop now, not when the cached audience expires.
        services.broadcaster.forget_device(device_id)
    except NotFoundError:
        raise NOT_FOUND from None
    except AccessDeniedError:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Only the owner removes caregivers; the owner stays"
        ) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{device_id}/delivery", response_model=DeliveryStatsRead, responses=NOT_MEMBER)
async def delivery(
    device_id: DeviceId, user: CurrentUser, services: ServicesDep
) -> DeliveryStatsRead:
    """Can this monitor's alarms be trusted right now: when it was last heard, and how fast
    its alerts of the last 24 h reached a caregiver's screen and were acknowledged."""
    now = datetime.now(UTC)
    stats = await services.storage.delivery_stats(user.id, device_id, now - timedelta(hours=24))
    if stats is None:
        raise NOT_FOUND
    heard = None if stats.last_seen is None else (now - stats.last_seen).total_seconds()
    return DeliveryStatsRead(
        device_id=stats.device_id, last_seen=stats.last_seen, last_heard_s=heard,
        alerts=stats.alerts, unacknowledged=stats.unacknowledged,
        delay_p50_s=stats.delay_p50_s, delay_p95_s=stats.delay_p95_s,
        ack_p50_s=stats.ack_p50_s, ack_p95_s=stats.ack_p95_s,
    )  # fmt: skip


@router.get("/{device_id}/gaps", response_model=list[GapRead], responses=NOT_MEMBER)
async def gaps(
    device_id: DeviceId,
    user: CurrentUser,
    services: ServicesDep,
    start_date: QueryTime | None = None,
    end_date: QueryTime | None = None,
    include_closed: Annotated[
        bool, Query(description="also the gaps the device's replay filled")
    ] = False,
) -> list[Gap]:
    """Stretches without data ("no data 02:10-02:25, device offline"), newest first."""
    if await services.storage.get_device(user.id, device_id) is None:
        raise NOT_FOUND
    return await services.storage.list_gaps(
        user.id, device_id, start_date, end_date, include_closed
    )


@router.get("/{device_id}/episodes", response_model=list[CryEpisodeRead], responses=NOT_MEMBER)
async def episodes(
    device_id: DeviceId,
    user: CurrentUser,
    services: ServicesDep,
    start_date: QueryTime | None = None,
    end_date: QueryTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CryEpisode]:
    """Cry episodes newest first: start, end (null while still crying), peak confidence, and
    why an end was not heard (``end_reason``: null for an ordinary end)."""
    try:
        return await services.storage.list_cry_episodes(
            user.id, device_id, start_date, end_date, limit
        )
    except NotFoundError:
        raise NOT_FOUND from None
