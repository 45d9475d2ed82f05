"""In-process fan-out of committed alerts, for the SQLite mode (one process runs it all)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cloud.storage.records import StoredAlert

SUBSCRIBER_QUEUE_SIZE = 1000


class AlertHub:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[StoredAlert]] = set()

    def publish(self, alerts: list[StoredAlert]) -> None:
        for queue in list(self._subscribers):
            for alert in alerts:
                if queue.full():
                    # A subscriber that stopped reading loses its oldest alert, never blocks
                    # the writer or the other subscribers.
                    queue.get_nowait()
                queue.put_nowait(alert)

    async def subscribe(self) -> AsyncIterator[StoredAlert]:
        queue: asyncio.Queue[StoredAlert] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)
