"""In-process fan-out of committed alerts and live readings, for the SQLite mode (one process
runs it all)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

T = TypeVar("T")

SUBSCRIBER_QUEUE_SIZE = 1000


class AlertHub(Generic[T]):
    """Fan-out of committed items (alerts, live readings) to in-process subscribers."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[T]] = set()

    def publish(self, items: list[T]) -> None:
        for queue in list(self._subscribers):
            for item in items:
                if queue.full():
                    # A subscriber that stopped reading loses its oldest item, never blocks
                    # the writer or the other subscribers.
                    queue.get_nowait()
                queue.put_nowait(item)

    async def subscribe(self) -> AsyncIterator[T]:
        queue: asyncio.Queue[T] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)
