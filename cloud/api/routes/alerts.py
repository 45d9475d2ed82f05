"""``/alerts``: what happened in the caller's nurseries, with a per-caregiver read state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.deps import AUTH_RESPONSES, UNDECODABLE_BODY_RESPONSES, CurrentUser, ServicesDep
from cloud.api.device_schemas import AlertRead, MarkedRead, MarkRead, UnreadCount
from cloud.api.schemas import QueryTime
from cloud.storage.records import AlertQuery, AlertView
from models.contract.topics import DEVICE_ID_PATTERN

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=AUTH_RESPONSES)


@router.get("", response_model=list[AlertRead])
async def list_alerts(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    device_id: Annotated[
        str | None, Query(max_length=64, pattern=DEVICE_ID_PATTERN.pattern)
    ] = None,
    kind: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Z_]{1,64}$",
            description="e.g. CRY_DETECTED, CLIMATE_OUT_OF_RANGE, DEVICE_OFFLINE",
        ),
    ] = None,
    unread_only: bool = False,
    start_date: QueryTime | None = None,
    end_date: QueryTime | None = None,
) -> list[AlertView]:
    """Alerts of the caller's devices and of their own uploads, newest first."""
    query = AlertQuery(
        limit=limit,
        offset=offset,
        device_id=device_id,
        kind=kind,
        unread_only=unread_only,
        start=start_date,
        end=end_date,
    )
    return await services.storage.list_user_alerts(user.id, query)


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(user: CurrentUser, services: ServicesDep) -> UnreadCount:
    return UnreadCount(unread=await services.storage.count_unread_alerts(user.id))


@router.post("/read", response_model=MarkedRead, responses=UNDECODABLE_BODY_RESPONSES)
async def mark_read(body: MarkRead, user: CurrentUser, services: ServicesDep) -> MarkedRead:
    """Mark the given alerts (or all) read for the caller only; other caregivers keep theirs."""
    marked = await services.storage.mark_alerts_read(user.id, body.alert_ids, datetime.now(UTC))
    return MarkedRead(marked=marked)
