"""Running the collector as a process: storage, MQTT, the ops endpoint, clean shutdown."""

from __future__ import annotations

import asyncio
import logging

from cloud.collector.http import build_ops_app, ops_server
from cloud.collector.service import Collector
from cloud.config import CollectorSettings
from cloud.storage import Storage

logger = logging.getLogger(__name__)


async def run_collector(settings: CollectorSettings, storage: Storage, stop: asyncio.Event) -> None:
    collector = Collector(settings, storage)
    server = None
    server_task = None
    if settings.http_port:
        app = build_ops_app(collector.metrics, collector.readiness)
        server = ops_server(app, settings.http_host, settings.http_port)
        server_task = asyncio.create_task(server.serve())
    await collector.start()
    logger.info("collector running; ops endpoint on port %s", settings.http_port or "(disabled)")
    try:
        await stop.wait()
        logger.info("stopping: committing the current batch")
    finally:
        await collector.stop()
        if server is not None and server_task is not None:
            server.should_exit = True
            await server_task
