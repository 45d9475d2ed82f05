"""Keeping overlapping ingest transactions of one process in the order their batches came.

The collector commits a batch while the next one is already being written (docs/performance.md,
"Collector ingest"): a batch's rows are inserted without device locks, and only its rule,
presence and gap work runs under the locks of its devices. Two such transactions of one
process must still reach each stage in batch order:

- **insert**: a batch inserts its rows only after the previous batch has inserted its own. Two
  batches inserting the same key (a redelivery) then wait for each other in one direction only:
  the later waits for the earlier's commit, never the other way round, so they cannot deadlock
  with the later one's device locks.
- **lock**: a batch locks its devices only after the previous batch holds its locks, so
  PostgreSQL makes it wait for that commit and the rules see each device's messages in the
  order they arrived.

A turn is handed out synchronously when ``PostgresStorage.ingest`` is called, which is batch
order. A failed batch finishes its turn (the next one goes on) and queues again at the end
when the collector retries it, as a redelivery would.
"""

from __future__ import annotations

import asyncio


class Turn:
    """One batch's place in the order: wait for the previous batch, then say what you did."""

    def __init__(self, previous: Turn | None) -> None:
        self._previous = previous
        self._inserted = asyncio.Event()
        self._locked = asyncio.Event()

    async def insert_after_previous(self) -> None:
        if self._previous is not None:
            await self._previous._inserted.wait()

    def inserted(self) -> None:
        self._inserted.set()

    async def lock_after_previous(self) -> None:
        if self._previous is not None:
            await self._previous._locked.wait()
            # Dropped once passed: otherwise every turn would keep all earlier ones alive.
            self._previous = None

    def locked(self) -> None:
        self._locked.set()

    def finish(self) -> None:
        """Done or failed: whatever this batch did not reach no longer holds the next one up."""
        self._previous = None
        self._inserted.set()
        self._locked.set()


class BatchOrder:
    def __init__(self) -> None:
        self._last: Turn | None = None

    def next_turn(self) -> Turn:
        turn = Turn(self._last)
        self._last = turn
        return turn
