"""Background tasks that crash are restarted with a backoff and reported until they are healthy;
a batch that fails for a reason other than the database stores all its other messages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from cloud.collector.batcher import Batcher, BatchPolicy
from cloud.collector.decode import UNEXPECTED
from cloud.collector.supervisor import RestartPolicy, TaskSupervisor
from cloud.storage.records import DeadLetter, IngestBatch, IngestResult, TelemetryRow

QUICK = RestartPolicy(
    initial_backoff_s=0.05, max_backoff_s=0.2, crash_loop_restarts=2, crash_loop_window_s=60
)
T0 = datetime(2026, 11, 23, tzinfo=UTC)


async def _eventually(condition: object, timeout_s: float = 5.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_crashing_task_is_restarted_and_reported_until_it_runs_again() -> None:
    stopping = asyncio.Event()
    restarts: list[str] = []
    runs = 0
    healthy = asyncio.Event()

    async def check() -> None:
        nonlocal runs
        runs += 1
        if runs <= 4:
            raise OverflowError("cannot convert float infinity to integer")
        healthy.set()
        await stopping.wait()

    supervisor = TaskSupervisor(stopping, restarts.append, QUICK)
    supervisor.start("offline_check", check)
    await _eventually(lambda: len(restarts) == 1)
    assert "OverflowError" in supervisor.problems()["offline_check"]
    await asyncio.wait_for(healthy.wait(), 5)
    assert restarts == ["offline_check"] * 4
    # Running again, but four crashes in the window are still a crash loop worth reporting.
    assert "restarted 4 times" in supervisor.problems()["offline_check"]
    stopping.set()
    await asyncio.gather(*supervisor.tasks)


async def test_a_task_that_keeps_running_is_healthy() -> None:
    stopping = asyncio.Event()
    supervisor = TaskSupervisor(stopping, lambda name: None, QUICK)
    supervisor.start("escalation", stopping.wait)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert supervisor.problems() == {}
    stopping.set()
    await asyncio.gather(*supervisor.tasks)


def _reading(device_id: str, seq: int) -> TelemetryRow:
    return TelemetryRow(device_id, seq, T0, T0, 20.0, 50.0, None, None)


async def test_a_batch_failing_unexpectedly_stores_every_other_message() -> None:
    stored: list[int] = []
    acknowledged: list[int] = []
    failures: list[Exception] = []
    letters: list[DeadLetter] = []

    async def write(batch: IngestBatch) -> IngestResult:
        if any(row.device_id == "poison" for row in batch.readings):
            raise OverflowError("a bug no one foresaw")
        stored.extend(row.seq for row in batch.readings)
        letters.extend(batch.dead_letters)
        return IngestResult(readings_stored=len(batch.readings))

    batcher: Batcher[int] = Batcher(
        write, BatchPolicy(max_items=100, max_delay_s=0.05), lambda *args: None,
        acknowledged.extend, lambda receipts: None, failures.append,
    )  # fmt: skip
    batcher.start()
    for seq in range(20):
        batcher.add(_reading("poison" if seq == 7 else "healthy", seq), seq)
    await _eventually(lambda: len(stored) == 19)
    assert 7 not in stored
    # Refused alone a few times, the message is kept as a dead letter and acknowledged.
    await _eventually(lambda: len(acknowledged) == 20)
    assert sorted(acknowledged) == list(range(20))
    assert [letter.topic for letter in letters] == ["nursery/v1/poison/telemetry"]
    assert letters[0].error.startswith(f"{UNEXPECTED}: not storable (3 attempts): OverflowError")
    assert len(failures) == 4 + 3  # failing at 20, 10, 5 and 3 messages, then 3 times alone
    assert all(isinstance(error, OverflowError) for error in failures)
    assert batcher.problem() is None
    await batcher.stop()
