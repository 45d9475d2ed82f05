"""Several collector processes in one shared-subscription group, as docs/operations.md scales
the collector out (see bench_ingest.py).

Each process is an ordinary collector (same code, same settings, its own client id and
database pool) in the share group ``$share/<group>/...``; the broker splits the messages between
their sessions. Processes are started and connected to the database before the clock starts,
then told to connect to the broker at once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

from cloud.collector import Collector
from cloud.config import CollectorSettings, MqttSettings
from cloud.storage import Storage, open_storage
from cloud.storage.records import IngestBatch, IngestResult
from tests.benchmarks.ingest_load import BrokerLogin

PROGRESS_INTERVAL_S = 0.005


def collector_settings(
    url: str, login: BrokerLogin, client_id: str, group: str
) -> CollectorSettings:
    mqtt = MqttSettings(login.host, login.port, login.username_for(client_id), login.password)
    return CollectorSettings(url, mqtt, client_id=client_id, share_group=group, http_port=0)


def scaleout_client_ids(processes: int, prefix: str = "bench-scale") -> list[str]:
    return [f"{prefix}-{index}" for index in range(processes)]


class TimedStorage:
    """Wraps a storage to record, per committed reading, device time -> commit time."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.latencies: list[float] = []

    async def ingest(self, batch: IngestBatch) -> IngestResult:
        result = await self._storage.ingest(batch)
        committed = datetime.now(UTC)
        self.latencies += [(committed - row.time).total_seconds() for row in batch.readings]
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


async def _serve(settings: CollectorSettings, ready: Event, go: Event, stop: Event,
                 committed: Synchronized[int], latencies: Connection | None) -> None:  # fmt: skip
    storage = await open_storage(settings.database_url)
    timed = TimedStorage(storage) if latencies is not None else None
    collector = Collector(settings, timed or storage)
    ready.set()
    await asyncio.to_thread(go.wait)
    await collector.start()
    while not stop.is_set():
        committed.value = collector.committed_rows
        await asyncio.sleep(PROGRESS_INTERVAL_S)
    await collector.stop()
    await storage.close()
    if latencies is not None and timed is not None:
        latencies.send(timed.latencies)


def _collector_process(settings: CollectorSettings, ready: Event, go: Event, stop: Event,
                       committed: Synchronized[int], latencies: Connection | None) -> None:  # fmt: skip
    asyncio.run(_serve(settings, ready, go, stop, committed, latencies))


class CollectorGroup:
    """``processes`` collectors in share group ``group``, started and waiting for ``go()``."""

    def __init__(self, url: str, login: BrokerLogin, group: str, client_ids: list[str],
                 timed: bool = False) -> None:  # fmt: skip
        context = multiprocessing.get_context("spawn")
        self._go, self._stop = context.Event(), context.Event()
        self._workers = []
        for client_id in client_ids:
            ready, committed = context.Event(), context.Value("q", 0)
            receiver, sender = context.Pipe(duplex=False) if timed else (None, None)
            settings = collector_settings(url, login, client_id, group)
            process = context.Process(
                target=_collector_process,
                args=(settings, ready, self._go, self._stop, committed, sender),
            )
            process.start()
            self._workers.append((process, ready, committed, receiver))
        for _process, ready, _committed, _receiver in self._workers:
            if not ready.wait(60):
                self.stop()
                raise TimeoutError("a collector process did not start")

    def go(self) -> None:
        self._go.set()

    def committed(self) -> int:
        return sum(committed.value for _p, _r, committed, _l in self._workers)

    def wait_committed(self, total: int, started: float, timeout_s: float = 600.0) -> None:
        while self.committed() < total:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError("the collectors did not commit everything")
            time.sleep(PROGRESS_INTERVAL_S)

    def stop(self) -> list[float]:
        """Stop every collector; the latencies they recorded (if timed)."""
        self._stop.set()
        self._go.set()
        latencies: list[float] = []
        for process, _ready, _committed, receiver in self._workers:
            if receiver is not None and process.is_alive() and receiver.poll(30):
                latencies += receiver.recv()
            process.join(30)
        return latencies


def drain_collectors(url: str, login: BrokerLogin, group: str, processes: int,
                     total: int) -> float:  # fmt: skip
    """Seconds until ``processes`` collectors in ``group`` have committed ``total`` rows."""
    collectors = CollectorGroup(url, login, group, scaleout_client_ids(processes))
    try:
        started = time.monotonic()
        collectors.go()
        collectors.wait_committed(total, started)
        return time.monotonic() - started
    finally:
        collectors.stop()
