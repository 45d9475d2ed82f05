"""Operations endpoints: liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from cloud.api.deps import ServicesDep
from cloud.collector import Collector

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers (and the embedded collector is ready)",
    responses={
        503: {
            "description": "The database is unreachable, or the collector running in this "
            "process (`nursery-cloud serve`) is not ready; `collector_problems` says why"
        }
    },
)
async def readyz(services: ServicesDep, request: Request, response: Response) -> dict[str, object]:
    database_ok = await services.storage.ping()
    answer: dict[str, object] = {
        "database": database_ok,
        "cry_detection": services.analyzer.ready,
        "websocket_clients": services.broadcaster.connected_clients(),
    }
    ready = database_ok
    collector: Collector | None = getattr(request.app.state, "embedded_collector", None)
    if collector is not None:
        readiness = collector.readiness()
        answer["collector_problems"] = readiness.problems
        ready = ready and readiness.ready
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ready" if ready else "unavailable", **answer}
