"""The loud-sound fallback and the microphone self-check end to end: the real edge agent
replaying audio, the real broker, the collector process, the API process. Parents' alerts are
read through the API, as the app reads them.

- a loud fan with a faint cry 18 dB below it -> a ``LOUD_SOUND`` alarm, which comes from the
  level alone, whatever the model makes of the cry (the shipped cascade hears this one, so a
  ``CRY_DETECTED`` alert comes too; the small model alone missed it);
- an all-zero input -> a ``DEVICE_FAULT`` alert saying to check the microphone;
- a quiet room -> no microphone alert.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile

from tests.e2e.test_alerts_across_api_processes import minted_claim_code, signup
from tests.harness.collector import CollectorProcess
from tests.harness.edge_agent import EdgeAgentRunner
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.services import create_account
from tests.harness.waiting import eventually

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
DEAD_AFTER_S = 3.0


async def alerts_of(http: httpx.AsyncClient, owner: dict[str, str], device_id: str) -> list[Any]:
    response = await http.get(f"/alerts?device_id={device_id}", headers=owner)
    assert response.status_code == 200, response.text
    listed: list[Any] = response.json()
    return listed


@pytest.mark.slow
async def test_fan_noise_alarms_dead_microphone_alerts_quiet_room_does_not(
    database_url: str,
    mosquitto: MosquittoBroker,
    api_url: str,
    start_collector: Callable[..., CollectorProcess],
    tmp_path: Path,
) -> None:
    start_collector(database_url, f"e2e-selfchecks-{uuid.uuid4().hex[:6]}", "")
    http = httpx.AsyncClient(base_url=api_url, timeout=30)
    _owner_id, token = await signup(http, api_url, "Owner")
    owner = {"Authorization": f"Bearer {token}"}
    zeros = tmp_path / "zeros.flac"
    soundfile.write(str(zeros), np.zeros(20 * 16_000, dtype=np.float32), 16_000)
    scenarios = {
        "fan": [AUDIO / "fan_with_faint_cry.flac"],
        "dead": [zeros],
        "quiet": [AUDIO / "quiet_room.flac"],
    }
    devices: dict[str, str] = {}
    agents = []
    try:
        for name, files in scenarios.items():
            device_id = f"nursery-{name}-{uuid.uuid4().hex[:6]}"
            code = minted_claim_code(database_url, device_id)
            claimed = await http.post("/devices/claim", headers=owner, json={"claim_code": code})
            assert claimed.status_code == 201, claimed.text
            workdir = tmp_path / name
            workdir.mkdir()
            runner = EdgeAgentRunner(
                workdir, mosquitto, create_account(mosquitto, device_id), audio_files=files,
                audio_options={"dead_after_s": DEAD_AFTER_S}, settings={"status_interval_s": 5.0},
            )  # fmt: skip
            agents.append(runner.start())
            devices[name] = device_id

        async def loud() -> list[Any]:
            listed = await alerts_of(http, owner, devices["fan"])
            return [a for a in listed if a["kind"] == "LOUD_SOUND"]

        async def dead() -> list[Any]:
            listed = await alerts_of(http, owner, devices["dead"])
            return [a for a in listed if a["kind"] == "DEVICE_FAULT"]

        async def cry() -> list[Any]:
            listed = await alerts_of(http, owner, devices["fan"])
            return [a for a in listed if a["kind"] == "CRY_DETECTED"]

        (alarm,) = await eventually(loud, 40)
        assert alarm["needs_ack"] is True
        assert "Loud sound" in alarm["message"]
        # Not "no cry alert": that held only for the small model, and only until the cry's
        # episode (from 6.5 s into the clip) reached the API - a race the test once won.
        assert await eventually(cry, 40), "the cascade hears this cry (nursery-edge detect does)"
        (fault,) = await eventually(dead, 30)
        assert fault["details"]["fault"] == "microphone_dead"
        assert "microphone" in fault["message"]
        assert fault["details"]["seen"].startswith("every sample was digital zero")
        await asyncio.sleep(DEAD_AFTER_S + 5)  # the quiet room's window is long full by now
        quiet = await alerts_of(http, owner, devices["quiet"])
        assert [a for a in quiet if a["kind"] == "DEVICE_FAULT"] == [], quiet
    finally:
        for agent in agents:
            assert agent.stop_cleanly(), agent.output()
        await http.aclose()
