"""``/health``: the parents' history of readings and uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.deps import CurrentUser, ServicesDep
from cloud.api.schemas import HealthRecordRead
from cloud.storage.records import HealthRecord, HistoryQuery

router = APIRouter(prefix="/health", tags=["health"])

MAX_HISTORY_LIMIT = 1000


@router.get("/history", response_model=list[HealthRecordRead])
async def history(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    cry_detected: bool | None = None,
    sick_detected: bool | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
) -> list[HealthRecord]:
    query = HistoryQuery(
        limit=limit,
        offset=offset,
        cry_detected=cry_detected,
        sick_detected=sick_detected,
        start=start_date,
        end=end_date,
    )
    return await services.storage.list_health_records(user.id, query)
