"""Overlapping PostgreSQL ingest transactions reach each stage in batch order."""

from __future__ import annotations

import asyncio

from cloud.storage.postgres.batch_order import BatchOrder


async def test_a_batch_locks_its_devices_only_after_the_one_before_it_has() -> None:
    order = BatchOrder()
    first, second = order.next_turn(), order.next_turn()
    await first.insert_after_previous()  # the first batch waits for nobody
    first.inserted()
    await second.insert_after_previous()  # rows go in while the first evaluates its rules
    waiting = asyncio.create_task(second.lock_after_previous())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    first.locked()
    await asyncio.wait_for(waiting, timeout=1.0)


async def test_a_batch_inserts_only_after_the_one_before_it_has() -> None:
    order = BatchOrder()
    first, second = order.next_turn(), order.next_turn()
    waiting = asyncio.create_task(second.insert_after_previous())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    first.inserted()
    await asyncio.wait_for(waiting, timeout=1.0)


async def test_a_failed_batch_holds_up_nothing_behind_it() -> None:
    order = BatchOrder()
    failed, next_batch = order.next_turn(), order.next_turn()
    failed.finish()  # failed before inserting anything
    await asyncio.wait_for(next_batch.insert_after_previous(), timeout=1.0)
    await asyncio.wait_for(next_batch.lock_after_previous(), timeout=1.0)
