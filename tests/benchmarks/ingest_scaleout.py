"""Several collector processes in one shared-subscription group, as docs/operations.md scales
the collector out (see bench_ingest.py).

Each process is an ordinary collector (same code, same settings, its own client id and
database pool) in the share group ``$share/<group>/...``; the broker splits the backlog between
their sessions. Processes are started and connected to the database before the clock starts,
then told to connect to the broker at once; the clock stops when their committed rows add up
to the backlog.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

from cloud.collector import Collector
from cloud.config import CollectorSettings, MqttSettings
from cloud.storage import open_storage
from tests.benchmarks.ingest_load import BrokerLogin

PROGRESS_INTERVAL_S = 0.005


def collector_settings(
    url: str, login: BrokerLogin, client_id: str, group: str
) -> CollectorSettings:
    mqtt = MqttSettings(login.host, login.port, login.username, login.password)
    return CollectorSettings(url, mqtt, client_id=client_id, share_group=group, http_port=0)


def scaleout_client_ids(processes: int) -> list[str]:
    return [f"bench-scale-{index}" for index in range(processes)]


async def _serve(settings: CollectorSettings, ready: Event, go: Event, stop: Event,
                 committed: Synchronized[int]) -> None:  # fmt: skip
    storage = await open_storage(settings.database_url)
    collector = Collector(settings, storage)
    ready.set()
    await asyncio.to_thread(go.wait)
    await collector.start()
    while not stop.is_set():
        committed.value = collector.committed_rows
        await asyncio.sleep(PROGRESS_INTERVAL_S)
    await collector.stop()
    await storage.close()


def _collector_process(settings: CollectorSettings, ready: Event, go: Event, stop: Event,
                       committed: Synchronized[int]) -> None:  # fmt: skip
    asyncio.run(_serve(settings, ready, go, stop, committed))


def drain_collectors(url: str, login: BrokerLogin, group: str, processes: int,
                     total: int, timeout_s: float = 600.0) -> float:  # fmt: skip
    """Seconds until ``processes`` collectors in ``group`` have committed ``total`` rows."""
    context = multiprocessing.get_context("spawn")
    go, stop = context.Event(), context.Event()
    workers = []
    for client_id in scaleout_client_ids(processes):
        ready, committed = context.Event(), context.Value("q", 0)
        settings = collector_settings(url, login, client_id, group)
        process = context.Process(
            target=_collector_process, args=(settings, ready, go, stop, committed)
        )
        process.start()
        workers.append((process, ready, committed))
    try:
        for _process, ready, _committed in workers:
            if not ready.wait(60):
                raise TimeoutError("a collector process did not start")
        started = time.monotonic()
        go.set()
        while sum(committed.value for _p, _r, committed in workers) < total:
            if time.monotonic() - started > timeout_s:
                raise TimeoutError("the collectors did not drain the backlog")
            time.sleep(PROGRESS_INTERVAL_S)
        return time.monotonic() - started
    finally:
        stop.set()
        for process, _ready, _committed in workers:
            process.join(30)
