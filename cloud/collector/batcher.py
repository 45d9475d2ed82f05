"""Group messages into batches flushed at N items or T seconds, whichever comes first.

Each message's handler waits until the batch holding it is committed, which is what lets the
collector acknowledge (PUBACK) only after commit. A failed write is retried with capped
backoff, holding the batch, until the database is back or the collector stops; on stop, waiting
handlers are cancelled and their messages stay unacknowledged with the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cloud.collector.decode import IngestItem
from cloud.storage import StorageError
from cloud.storage.records import (
    DeadLetter,
    EventRow,
    IngestBatch,
    IngestResult,
    ReportedConfigRow,
    StatusRow,
    TelemetryRow,
)

logger = logging.getLogger(__name__)

RETRY_INITIAL_S = 0.2
RETRY_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    max_items: int = 1000
    max_delay_s: float = 0.05


def build_batch(items: list[IngestItem]) -> IngestBatch:
    batch = IngestBatch()
    for item in items:
        if isinstance(item, TelemetryRow):
            batch.readings.append(item)
        elif isinstance(item, EventRow):
            batch.events.append(item)
        elif isinstance(item, StatusRow):
            batch.statuses.append(item)
        elif isinstance(item, ReportedConfigRow):
            batch.reported.append(item)
        elif isinstance(item, DeadLetter):
            batch.dead_letters.append(item)
    return batch


class InFlightLimit:
    """At most ``limit`` messages between receipt and commit; the rest wait in arrival order.

    asyncio.Semaphore (3.11) scans its waiter queue, skipping already-woken waiters, on every
    release: with thousands of handlers waiting and a whole batch released at once that is
    quadratic and was the collector's largest single cost. Here a release hands its slot to the
    oldest waiter directly (popleft), O(1) per message.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.count = 0

    async def acquire(self) -> None:
        if self.count < self._limit and not self._waiters:
            self.count += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future  # release() counted us in before waking us
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # woken and cancelled before resuming: pass the slot on
            raise

    def release(self) -> None:
        self.count -= 1
        waiters = self._waiters
        while waiters and self.count < self._limit:
            future = waiters.popleft()
            if not future.done():  # cancelled waiters are skipped (and dropped)
                self.count += 1
                future.set_result(None)


WriteBatch = Callable[[IngestBatch], Awaitable[IngestResult]]
OnCommitted = Callable[[IngestBatch, IngestResult, float], None]


class Batcher:
    def __init__(self, write: WriteBatch, policy: BatchPolicy, on_committed: OnCommitted) -> None:
        self._write = write
        self._policy = policy
        self._on_committed = on_committed
        self._pending: list[tuple[IngestItem, asyncio.Future[None]]] = []
        self._has_items = asyncio.Event()
        self._full = asyncio.Event()
        self._first_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="collector-batcher")

    async def submit(self, item: IngestItem) -> None:
        """Return once ``item`` is committed; raises CancelledError if the collector stops first."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._pending:
            self._first_at = time.monotonic()
        self._pending.append((item, future))
        self._has_items.set()
        # An event (a cry, a loud sound) is what a parent is waiting for: its batch goes now
        # instead of waiting out the batch delay with the readings.
        if len(self._pending) >= self._policy.max_items or isinstance(item, EventRow):
            self._full.set()
        await future

    async def stop(self) -> None:
        """Flush what is pending (one last attempt), then stop."""
        self._stopping = True
        self._full.set()
        self._has_items.set()
        if self._task is not None:
            await self._task
        for _item, future in self._pending:
            future.cancel()
        self._pending.clear()

    async def _run(self) -> None:
        while True:
            await self._has_items.wait()
            if self._stopping and not self._pending:
                return
            delay = self._first_at + self._policy.max_delay_s - time.monotonic()
            if delay > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), timeout=delay)
            taken = self._pending[: self._policy.max_items]
            del self._pending[: self._policy.max_items]
            self._full.clear()
            if self._pending:
                self._first_at = time.monotonic()
                if len(self._pending) >= self._policy.max_items or any(
                    isinstance(item, EventRow) for item, _ in self._pending
                ):
                    self._full.set()
            else:
                self._has_items.clear()
            if taken:
                await self._commit(taken)

    async def _commit(self, taken: list[tuple[IngestItem, asyncio.Future[None]]]) -> None:
        batch = build_batch([item for item, _ in taken])
        backoff = RETRY_INITIAL_S
        while True:
            started = time.monotonic()
            try:
                result = await self._write(batch)
            except StorageError as exc:
                if self._stopping:
                    logger.error("giving up on a batch of %d at shutdown: %s", len(batch), exc)
                    for _item, future in taken:
                        future.cancel()
                    return
                logger.warning(
                    "batch of %d not stored (%s); retrying in %.1fs", len(batch), exc, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            self._on_committed(batch, result, time.monotonic() - started)
            for _item, future in taken:
                if not future.done():
                    future.set_result(None)
            return
