"""The collector as a separate process (``nursery-cloud collector``) and what it stored."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx

from cloud.storage import open_storage
from tests.harness.database import stored_seqs
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.processes import ManagedProcess
from tests.harness.services import BrokerAccount, create_account

StartCollector = Callable[[str, str, str], "CollectorProcess"]


class CollectorProcess:
    def __init__(self, process: ManagedProcess, http_port: int) -> None:
        self.process = process
        self.http_port = http_port

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{self.http_port}/readyz", timeout=1).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            if self.process.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"collector not ready:\n{self.process.output()}")

    def telemetry_received(self) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            # telemetry only: retained status messages of other tests' devices also arrive
            if line.startswith('nursery_collector_messages_total{kind="telemetry"}')
        )


async def register_device(
    database_url: str, mosquitto: MosquittoBroker
) -> tuple[str, BrokerAccount]:
    device_id = f"res-{uuid.uuid4().hex[:10]}"
    storage = await open_storage(database_url)
    try:
        await storage.migrate()
        await storage.register_device(device_id, None)
    finally:
        await storage.close()
    return device_id, create_account(mosquitto, device_id)


async def wait_for_all(
    database_url: str, device_id: str, count: int, timeout_s: float = 60.0, settle_s: float = 0.5
) -> list[int]:
    """The stored seqs once at least ``count`` are there, after ``settle_s`` more for any late
    duplicate to show up."""
    deadline = time.monotonic() + timeout_s
    seqs: list[int] = []
    while time.monotonic() < deadline:
        seqs = await asyncio.to_thread(stored_seqs, database_url, device_id)
        if len(seqs) >= count:
            await asyncio.sleep(settle_s)
            return await asyncio.to_thread(stored_seqs, database_url, device_id)
        await asyncio.sleep(0.05)
    return seqs
