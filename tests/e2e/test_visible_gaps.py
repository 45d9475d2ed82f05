"""A network loss shows as a gap that closes after the replay: the real edge agent recording
into its outbox, a cuttable link to the real broker, the collector process, the API process.

While the link is down the broker publishes the device's last will, so the parents' API lists
an open "offline" gap; once the link is back, the device says it is online and replays what it
recorded meanwhile, and the gap is closed (it stays listed with ``include_closed``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_alerts_across_api_processes import minted_claim_code, signup
from tests.harness.collector import CollectorProcess
from tests.harness.edge_agent import EdgeAgentRunner
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.proxy import CuttableProxy
from tests.harness.services import create_account
from tests.harness.waiting import eventually

OUTAGE_S = 8.0


@pytest.mark.slow
async def test_a_network_loss_is_a_gap_that_closes_after_the_replay(
    database_url: str,
    mosquitto: MosquittoBroker,
    api_url: str,
    start_collector: Callable[..., CollectorProcess],
    tmp_path: Path,
) -> None:
    device_id = f"nursery-{uuid.uuid4().hex[:8]}"
    code = minted_claim_code(database_url, device_id)
    start_collector(database_url, f"e2e-gaps-{device_id}", "")
    http = httpx.AsyncClient(base_url=api_url, timeout=30)
    _owner_id, token = await signup(http, api_url, "Owner")
    owner = {"Authorization": f"Bearer {token}"}
    assert (await http.post("/devices/claim", headers=owner, json={"claim_code": code})).is_success

    proxy = CuttableProxy(mosquitto.host, mosquitto.port)
    proxy.start()
    runner = EdgeAgentRunner(
        tmp_path, mosquitto, create_account(mosquitto, device_id),
        broker_options={"port": proxy.port},
    )  # fmt: skip
    agent = runner.start()

    async def readings() -> int:
        history = (await http.get("/health/history?limit=1000", headers=owner)).json()
        return sum(1 for record in history if record["device_id"] == device_id)

    async def gaps(closed: bool = False) -> list[dict[str, Any]]:
        query = "?include_closed=true" if closed else ""
        response = await http.get(f"/devices/{device_id}/gaps{query}", headers=owner)
        assert response.status_code == 200, response.text
        listed: list[dict[str, Any]] = response.json()
        return listed

    try:
        await eventually(lambda: _at_least(readings, 3), 30)
        assert await gaps() == []
        proxy.cut()
        cut_at = time.monotonic()
        (open_gap,) = await eventually(gaps, 15)
        assert open_gap["reason"] == "offline"
        assert open_gap["end"] is None, "still offline"
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
        recorded_before_restore = await readings()
        proxy.restore()

        async def closed_gaps() -> list[dict[str, Any]]:
            return [g for g in await gaps(closed=True) if g["closed_at"] is not None]

        (closed,) = await eventually(closed_gaps, 30)
        assert closed["id"] == open_gap["id"]
        assert closed["end"] is not None
        assert await gaps() == [], "a filled gap is no gap any more"
        assert await readings() >= recorded_before_restore + int(OUTAGE_S) - 2, (
            "the replay brought the readings recorded during the outage"
        )
    finally:
        assert agent.stop_cleanly(), agent.output()
        proxy.stop()
        await http.aclose()


async def _at_least(count: Callable[[], Any], wanted: int) -> bool:
    return bool(await count() >= wanted)
