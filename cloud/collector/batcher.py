"""Group messages into batches flushed at N items or T seconds, whichever comes first.

Each message comes with a receipt that is handed back only once the batch holding it is
committed, which is what lets the collector acknowledge (PUBACK) only after commit. A write
that failed because the database is down or busy is retried with capped backoff, holding the
batch, until the database is back or the collector stops; on stop, receipts not committed are
abandoned and their messages stay unacknowledged with the broker. A batch the database refuses
(a data or constraint error) or that fails unexpectedly is halved down to the message at fault,
which after ``MAX_REFUSALS`` attempts is stored as a dead letter: retried for ever, two such
messages once held both commit slots and stopped all ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cloud.collector.decode import IngestItem, unstorable
from cloud.storage import PermanentStorageError, StorageError
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

R = TypeVar("R")

RETRY_INITIAL_S = 0.2
RETRY_MAX_S = 5.0
# Times one message alone is refused (by the database, or by an unexpected error) before it
# is kept as a dead letter instead; with the backoff, about a second and a half.
MAX_REFUSALS = 3


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    max_items: int = 3000
    max_delay_s: float = 0.05
    # Batches being committed at once. Two let one batch's rows go in while the previous one
    # finishes its rules (the storage keeps them in order); one commits strictly in turn.
    concurrent_commits: int = 2


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


WriteBatch = Callable[[IngestBatch], Awaitable[IngestResult]]
OnCommitted = Callable[[IngestBatch, IngestResult, float], None]


class Batcher(Generic[R]):
    """Collects items with a receipt each; after a batch commits its receipts go to
    ``on_stored`` (the collector PUBACKs them), or to ``on_abandoned`` if the collector stops
    before the batch could be stored.

    Adding never waits: the next batch keeps filling while the current ones commit, so
    receiving and validating overlap the database round trips. Up to
    ``policy.concurrent_commits`` batches commit at once, handed to ``write`` in order.
    """

    def __init__(
        self,
        write: WriteBatch,
        policy: BatchPolicy,
        on_committed: OnCommitted,
        on_stored: Callable[[list[R]], None],
        on_abandoned: Callable[[list[R]], None],
        on_write_failed: Callable[[Exception], None] = lambda error: None,
        on_dead_lettered: Callable[[DeadLetter], None] = lambda letter: None,
    ) -> None:
        self._write = write
        self._policy = policy
        self._on_committed = on_committed
        self._on_stored = on_stored
        self._on_abandoned = on_abandoned
        self._on_write_failed = on_write_failed
        self._on_dead_lettered = on_dead_lettered
        # Why each message being retried alone was refused (readiness shows it meanwhile).
        self._refused: dict[object, str] = {}
        self._items: list[IngestItem] = []
        self._receipts: list[R] = []
        self._has_items = asyncio.Event()
        self._full = asyncio.Event()
        self._first_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(policy.concurrent_commits)
        self._commits: set[asyncio.Task[None]] = set()
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="collector-batcher")

    def problem(self) -> str | None:
        """Why nothing is being stored any more (the batching task ended), or that a message
        refused by the database or failing unexpectedly is being retried alone; else None."""
        task = self._task
        if task is None or self._stopping:
            return None
        if task.done():
            error = None if task.cancelled() else task.exception()
            return f"stopped ({type(error).__name__}: {error})" if error else "stopped"
        if self._refused:
            why = next(reversed(self._refused.values()))
            return f"{len(self._refused)} message(s) refused, retried alone ({why})"
        return None

    def add(self, item: IngestItem, receipt: R) -> None:
        """Queue ``item``; its receipt is handed on once it is committed."""
        items = self._items
        if not items:
            self._first_at = time.monotonic()
            self._has_items.set()
        items.append(item)
        self._receipts.append(receipt)
        # An event (a cry, a loud sound) is what a parent is waiting for: its batch goes now
        # instead of waiting out the batch delay with the readings.
        if len(items) >= self._policy.max_items or isinstance(item, EventRow):
            self._full.set()

    async def stop(self) -> None:
        """Flush what is pending (one last attempt), then stop."""
        self._stopping = True
        self._full.set()
        self._has_items.set()
        if self._task is not None:
            await self._task
        if self._receipts:
            self._on_abandoned(self._receipts)
        self._items, self._receipts = [], []

    async def _run(self) -> None:
        limit = self._policy.max_items
        while True:
            # While every commit slot is busy, arriving items keep filling the next batch.
            await self._slots.acquire()
            # Once stopping, never wait on the events: taking the batch below clears "has
            # items", and a stop() that set it while a batch waited out its delay was lost.
            if not self._stopping:
                await self._has_items.wait()
            if self._stopping and not self._items:
                self._slots.release()
                break
            delay = self._first_at + self._policy.max_delay_s - time.monotonic()
            if delay > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), timeout=delay)
            items, receipts = self._items[:limit], self._receipts[:limit]
            del self._items[:limit], self._receipts[:limit]
            self._full.clear()
            if self._items:
                self._first_at = time.monotonic()
                if len(self._items) >= limit or any(
                    isinstance(item, EventRow) for item in self._items
                ):
                    self._full.set()
            else:
                self._has_items.clear()
            if not items:
                self._slots.release()
                continue
            task = asyncio.create_task(self._commit_in_slot(items, receipts))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)
        if self._commits:
            await asyncio.wait(self._commits)

    async def _commit_in_slot(self, items: list[IngestItem], receipts: list[R]) -> None:
        try:
            await self._commit(items, receipts)
        finally:
            self._slots.release()

    async def _commit(self, items: list[IngestItem], receipts: list[R]) -> None:
        token = object()  # this commit's entry among the refused messages, while it has one
        try:
            await self._commit_until_stored(items, receipts, token)
        finally:
            self._refused.pop(token, None)

    async def _commit_until_stored(
        self, items: list[IngestItem], receipts: list[R], token: object
    ) -> None:
        batch = build_batch(items)
        backoff = RETRY_INITIAL_S
        refusals = 0
        dead_lettered: DeadLetter | None = None
        while True:
            started = time.monotonic()
            try:
                result = await self._write(batch)
            except Exception as exc:
                self._on_write_failed(exc)
                if isinstance(exc, StorageError) and not isinstance(exc, PermanentStorageError):
                    # The database is down or busy: the batch waits for it, whole.
                    if self._stopping:
                        logger.error("giving up on a batch of %d at shutdown: %s", len(batch), exc)
                        self._on_abandoned(receipts)
                        return
                    logger.warning(
                        "batch of %d not stored (%s); retrying in %.1fs", len(batch), exc, backoff
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, RETRY_MAX_S)
                    continue
                # The database refused the rows, or a bug or a message nobody foresaw. Halving
                # the batch until the failure is down to one message stores (and
                # acknowledges) all the others. The halves go concurrently (in order), so the
                # one being retried holds up no other.
                _log_refusal(len(batch), exc)
                if len(items) > 1:
                    half = len(items) // 2
                    await asyncio.gather(
                        self._commit(items[:half], receipts[:half]),
                        self._commit(items[half:], receipts[half:]),
                    )
                    return
                if self._stopping:
                    self._on_abandoned(receipts)
                    return
                refusals += 1
                self._refused[token] = f"{type(exc).__name__}: {exc}"
                item = items[0]
                if refusals >= MAX_REFUSALS and not isinstance(item, DeadLetter):
                    # It held a slot long enough: two such held both and stopped all ingest.
                    # As a dead letter it is kept, and then acknowledged.
                    dead_lettered = unstorable(item, exc, refusals)
                    items, batch = [dead_lettered], build_batch([dead_lettered])
                    logger.error("message on %s refused %d times, kept as a dead letter: %s",
                                 dead_lettered.topic, refusals, dead_lettered.error)  # fmt: skip
                    continue
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            self._on_committed(batch, result, time.monotonic() - started)
            if dead_lettered is not None:
                self._on_dead_lettered(dead_lettered)
            self._on_stored(receipts)
            return


def _log_refusal(size: int, error: Exception) -> None:
    if isinstance(error, StorageError):
        logger.error("batch of %d refused by the database: %s", size, error)
    else:
        logger.exception("batch of %d failed unexpectedly", size)
