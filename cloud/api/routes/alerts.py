"""``/alerts``: what happened in the caller's nurseries, with a per-caregiver read state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from cloud.api.deps import AUTH_RESPONSES, UNDECODABLE_BODY_RESPONSES, CurrentUser, ServicesDep
from cloud.api.device_schemas import (
    AlertRead,
    AlertTransitionRead,
    MarkedRead,
    MarkRead,
    UnreadCount,
)
from cloud.api.push_schemas import AlertDeliveryRead
from cloud.api.schemas import QueryTime
from cloud.storage.push_records import DeliveryRecord
from cloud.storage.records import AlertQuery, AlertTransition, AlertView, StoredAlert
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


@router.post(
    "/{alert_id}/ack",
    response_model=AlertRead,
    responses={404: {"description": "no such alert visible to the caller"}},
)
async def acknowledge(
    alert_id: Annotated[int, Path(ge=1, le=2**62)], user: CurrentUser, services: ServicesDep
) -> AlertView:
    """Take the alarm: it stops escalating and every caregiver's screen is told
    (``ALERT_ACKNOWLEDGED``). Repeating it changes nothing; it also marks the alert read."""
    taken = await services.storage.acknowledge_alert(user.id, alert_id, datetime.now(UTC))
    if taken is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Alert not found")
    return acknowledged_view(taken)


def acknowledged_view(taken: StoredAlert) -> AlertView:
    """An acknowledged alert as its taker sees it (read: acknowledging marks it read)."""
    return AlertView(
        id=taken.id, device_id=taken.device_id, user_id=taken.user_id, kind=taken.kind,
        time=taken.time, created_at=taken.created_at, message=taken.message,
        sick_detected=taken.sick_detected, details=taken.details, read=True,
        received_at=taken.received_at, needs_ack=taken.needs_ack,
        acknowledged_at=taken.acknowledged_at, acknowledged_by=taken.acknowledged_by,
        escalation_level=taken.escalation_level,
    )  # fmt: skip


@router.get(
    "/{alert_id}/transitions",
    response_model=list[AlertTransitionRead],
    responses={404: {"description": "no such alert visible to the caller"}},
)
async def transitions(
    alert_id: Annotated[int, Path(ge=1, le=2**62)], user: CurrentUser, services: ServicesDep
) -> list[AlertTransition]:
    """Every step of the alarm: raised, escalated (to whom, at which level), acknowledged."""
    steps = await services.storage.list_alert_transitions(user.id, alert_id)
    if steps is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Alert not found")
    return steps


@router.get(
    "/{alert_id}/deliveries",
    response_model=list[AlertDeliveryRead],
    responses={404: {"description": "no such alert visible to the caller"}},
)
async def deliveries(
    alert_id: Annotated[int, Path(ge=1, le=2**62)], user: CurrentUser, services: ServicesDep
) -> list[DeliveryRecord]:
    """How the alert reached people, oldest first: each socket write (``websocket``, status
    ``sent``; the first per user and level) and each push (``webpush``: one row per
    subscription, level and purpose, with its attempts, the push service's last answer and
    whether the alarm was acknowledged from that notification)."""
    records = await services.storage.list_alert_deliveries(user.id, alert_id)
    if records is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Alert not found")
    return records
