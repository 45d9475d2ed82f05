"""One log line per request: method, path, status, duration - never the query string or headers.

Uvicorn's own access log is switched off (``nursery-cloud api``) because it prints the query
string, and the WebSocket's access token travels there (``/ws/1?token=...``).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = []

        async def remember_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            elif message["type"] == "websocket.accept":
                status.append(101)
            elif message["type"] == "websocket.close" and not status:
                status.append(int(message.get("code", 1000)))
            await send(message)

        try:
            await self._app(scope, receive, remember_status)
        finally:
            method = scope.get("method", "WS")
            logger.info(
                "%s %s %s %.1f ms",
                method,
                scope.get("path", ""),
                status[0] if status else "-",
                1000 * (time.perf_counter() - started),
            )
