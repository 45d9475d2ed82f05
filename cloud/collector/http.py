"""The collector's operations endpoint: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.collector.metrics import CollectorMetrics
from cloud.collector.supervisor import Readiness


def build_ops_app(metrics: CollectorMetrics, readiness: Callable[[], Readiness]) -> Starlette:
    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        state = readiness()
        return JSONResponse(
            {
                "status": "ready" if state.ready else "not ready",
                "broker_connected": state.broker_connected,
                "problems": state.problems,
            },
            status_code=200 if state.ready else 503,
        )

    return Starlette(
        routes=[
            Route("/metrics", metrics_endpoint),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
    )


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside the collector's event loop; the collector owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def ops_server(app: Starlette, host: str, port: int) -> EmbeddedServer:
    return EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_level="warning"))
