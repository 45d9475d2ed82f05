"""An unacknowledged cry escalates to the second caregiver after the nursery's configured time,
and stops after an acknowledgement - through the real broker, collector, database and API.

The device publishes a real ``cry_started`` event with its own broker account; the collector
process commits the alarm and escalates it; the API process delivers over WebSockets, where
the second caregiver acknowledges it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import websockets

from models.contract import Event, MessageKind, topic_for
from tests.e2e.test_alerts_across_api_processes import minted_claim_code, signup
from tests.harness.collector import CollectorProcess
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.services import create_account
from tests.harness.waiting import wait_until_async

ESCALATE_AFTER_S = 2.0


class Screen:
    """A caregiver's app: a WebSocket that records what arrives and can acknowledge."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self.ready = asyncio.Event()
        self._socket: Any = None

    async def run(self) -> None:
        async with websockets.connect(self.url) as socket:
            self._socket = socket
            self.ready.set()
            async for raw in socket:
                message = json.loads(raw)
                if message["event"] != "HEARTBEAT":
                    self.messages.append(message)

    async def acknowledge(self, alert_id: int) -> None:
        await self._socket.send(json.dumps({"action": "ack", "alert_id": alert_id}))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["event"] == event]


@pytest.mark.slow
async def test_unacknowledged_cry_escalates_to_the_second_caregiver_and_stops_after_ack(
    database_url: str,
    mosquitto: MosquittoBroker,
    api_url: str,
    start_collector: Callable[..., CollectorProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device_id = f"nursery-{uuid.uuid4().hex[:8]}"
    code = minted_claim_code(database_url, device_id)
    monkeypatch.setenv("NURSERY_COLLECTOR_ESCALATION_CHECK_MS", "200")
    start_collector(database_url, f"e2e-escalation-{device_id}", "")
    http = httpx.AsyncClient(base_url=api_url, timeout=30)
    owner_id, owner_token = await signup(http, api_url, "Owner")
    carer_id, carer_token = await signup(http, api_url, "Carer")
    owner = {"Authorization": f"Bearer {owner_token}"}
    carer = {"Authorization": f"Bearer {carer_token}"}
    assert (await http.post("/devices/claim", headers=owner, json={"claim_code": code})).is_success
    carer_email = (await http.get("/auth/me", headers=carer)).json()["email"]
    invited = await http.post(
        f"/devices/{device_id}/caregivers", headers=owner, json={"email": carer_email}
    )
    assert invited.status_code == 202
    tuned = await http.put(
        f"/devices/{device_id}/settings",
        headers=owner,
        json={"nursery": {"cry_escalate_after_s": ESCALATE_AFTER_S}},
    )
    assert tuned.status_code == 200, tuned.text

    ws = api_url.replace("http://", "ws://")
    screens = [Screen(f"{ws}/ws/{owner_id}?token={owner_token}"),
               Screen(f"{ws}/ws/{carer_id}?token={carer_token}")]  # fmt: skip
    tasks = [asyncio.create_task(screen.run()) for screen in screens]
    owner_screen, carer_screen = screens
    try:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in screens)), 10)
        account = create_account(mosquitto, device_id)
        cry = Event(device_id=device_id, seq=1, ts=datetime.now(UTC), kind="cry_started",
                    episode_id=1, confidence=0.94, sound_dbfs=-28.0)  # fmt: skip
        with probe(mosquitto.host, mosquitto.port, device_id, account.username,
                   account.password) as device:  # fmt: skip
            device.connect(mosquitto.host, mosquitto.port)
            assert not device.publish(
                topic_for(device_id, MessageKind.EVENT), cry.to_json()
            ).is_failure
        published = time.monotonic()

        def cries(screen: Screen) -> list[dict[str, Any]]:
            return screen.of("CRY_DETECTED")

        assert await wait_until_async(lambda: bool(cries(owner_screen) and cries(carer_screen)), 20)
        first = cries(carer_screen)[0]
        assert first["needs_ack"] is True
        assert first["escalation_level"] == 0
        stamps = [
            datetime.fromisoformat(first["times"][step])
            for step in ("event", "received", "committed", "sent")
        ]
        assert stamps == sorted(stamps), "event <= received <= committed <= sent"

        # Nobody acknowledges: after the configured time it is sent again, escalated.
        assert await wait_until_async(lambda: len(cries(carer_screen)) >= 2, 15), (
            carer_screen.messages
        )
        escalated = cries(carer_screen)[1]
        waited = time.monotonic() - published
        assert escalated["alert_id"] == first["alert_id"]
        assert escalated["escalation_level"] == 1
        assert escalated["escalated_to"] == carer_id
        assert waited >= ESCALATE_AFTER_S, "not before the configured time"
        assert len(cries(owner_screen)) == 2, "the first caregiver is reminded too"

        await carer_screen.acknowledge(first["alert_id"])
        assert await wait_until_async(
            lambda: all(screen.of("ALERT_ACKNOWLEDGED") for screen in screens), 10
        )
        ack = owner_screen.of("ALERT_ACKNOWLEDGED")[0]
        assert ack["alert_id"] == first["alert_id"]
        assert ack["data"]["acknowledged_by"] == carer_id
        await asyncio.sleep(3 * ESCALATE_AFTER_S)
        assert len(cries(carer_screen)) == 2, "never sent again after the acknowledgement"
        assert len(cries(owner_screen)) == 2

        steps = (await http.get(f"/alerts/{first['alert_id']}/transitions", headers=owner)).json()
        assert [(s["transition"], s["user_id"], s["level"]) for s in steps] == [
            ("raised", None, 0), ("escalated", carer_id, 1), ("acknowledged", carer_id, 1),
        ]  # fmt: skip
        listed = (await http.get("/alerts?kind=CRY_DETECTED", headers=owner)).json()
        assert listed[0]["acknowledged_by"] == carer_id
        await asyncio.sleep(1)  # the delivery recorder writes every 0.25 s
        stats = (await http.get(f"/devices/{device_id}/delivery", headers=owner)).json()
        assert stats["alerts"] == 1
        assert stats["unacknowledged"] == 0
        assert stats["delay_p50_s"] is not None
        assert 0 <= stats["delay_p50_s"] < 5
        assert stats["ack_p50_s"] >= ESCALATE_AFTER_S
        assert stats["last_heard_s"] is not None
    finally:
        for task in tasks:
            task.cancel()
        await http.aclose()
