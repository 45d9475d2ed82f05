"""Operations endpoints: liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from cloud.api.deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    responses={503: {"description": "The database is unreachable"}},
)
async def readyz(services: ServicesDep, response: Response) -> dict[str, object]:
    database_ok = await services.storage.ping()
    if not database_ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {
        "status": "ready" if database_ok else "unavailable",
        "database": database_ok,
        "cry_detection": services.analyzer.ready,
        "websocket_clients": services.broadcaster.connected_clients(),
    }
