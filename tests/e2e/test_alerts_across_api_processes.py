"""A cry heard by a device reaches each caregiver once, whichever API process they are on, and a
setting changed in the app reaches the device.

Everything is a real process: Mosquitto, the collector, two `nursery-cloud api` processes on one
PostgreSQL database, and `nursery-edge run` replaying speech and then a cry in real time. The
owner's phone is connected to one API process, the caregiver's to the other.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from models.contract import MessageKind, ReportedConfig, decode_message, topic_for
from tests.harness.api_process import (
    broker_settings,
    start_api,
    stop_all_cleanly,
    wait_until_serving,
)
from tests.harness.collector import CollectorProcess
from tests.harness.edge_agent import EdgeAgentRunner
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.processes import console_script
from tests.harness.services import BrokerAccount, create_account, create_instance_account
from tests.harness.waiting import wait_until_async

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
SECRET = "two-api-processes-secret-0123456789-abcdefghij"
PASSWORD = "testPassword123"


@pytest.fixture
def two_apis(database_url: str, mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[list[str]]:
    apis = []
    for index in range(2):
        # The broker allows one connection per account: an API process per instance account.
        account = create_instance_account(mosquitto, "api", f"{index}-{uuid.uuid4().hex[:8]}")
        settings = broker_settings(mosquitto, account)
        apis.append(
            start_api(database_url, SECRET, tmp_path, env=settings, log_name=f"api-{index}.log")
        )
    try:
        wait_until_serving(apis)
        yield [api.url for api in apis]
    finally:
        stop_all_cleanly(apis)


async def signup(http: httpx.AsyncClient, api: str, name: str) -> tuple[int, str]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD}
    user = (await http.post(f"{api}/auth/register", json=body)).json()
    login = (await http.post(f"{api}/auth/login", json=body)).json()
    return int(user["id"]), str(login["access_token"])


def minted_claim_code(database_url: str, device_id: str) -> str:
    run = subprocess.run(
        [console_script("nursery-cloud"), "device", "register", device_id, "--claim-code"],
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"claim code: (\S+)", run.stdout)
    assert match is not None, run.stdout + run.stderr
    return match.group(1)


async def collect(url: str, into: list[dict[str, Any]], ready: asyncio.Event) -> None:
    async with websockets.connect(url) as socket:
        ready.set()
        async for raw in socket:
            message = json.loads(raw)
            if message["event"] != "HEARTBEAT":
                into.append(message)


@pytest.mark.slow
async def test_a_device_cry_reaches_each_caregiver_once_across_two_api_processes(
    database_url: str,
    mosquitto: MosquittoBroker,
    api_account: BrokerAccount,
    two_apis: list[str],
    start_collector: Callable[..., CollectorProcess],
    tmp_path: Path,
) -> None:
    first, second = two_apis
    device_id = f"nursery-{uuid.uuid4().hex[:8]}"
    code = minted_claim_code(database_url, device_id)
    start_collector(database_url, f"e2e-two-apis-{device_id}", "")
    http = httpx.AsyncClient(timeout=30)
    owner_id, owner_token = await signup(http, first, "Owner")
    carer_id, carer_token = await signup(http, second, "Carer")
    owner = {"Authorization": f"Bearer {owner_token}"}
    claimed = await http.post(f"{first}/devices/claim", headers=owner, json={"claim_code": code})
    assert claimed.status_code == 201, claimed.text
    carer_email = await http.get(
        f"{second}/auth/me", headers={"Authorization": f"Bearer {carer_token}"}
    )
    invite = await http.post(
        f"{first}/devices/{device_id}/caregivers",
        headers=owner,
        json={"email": carer_email.json()["email"]},
    )
    assert invite.status_code == 202

    owner_messages: list[dict[str, Any]] = []
    carer_messages: list[dict[str, Any]] = []
    ready = [asyncio.Event(), asyncio.Event()]
    ws = [url.replace("http://", "ws://") for url in two_apis]
    listeners = [
        asyncio.create_task(
            collect(f"{ws[0]}/ws/{owner_id}?token={owner_token}", owner_messages, ready[0])
        ),
        asyncio.create_task(
            collect(f"{ws[1]}/ws/{carer_id}?token={carer_token}", carer_messages, ready[1])
        ),
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 10)

    account = create_account(mosquitto, device_id)
    runner = EdgeAgentRunner(
        tmp_path,
        mosquitto,
        account,
        audio_files=[AUDIO / "not_cry_speech_commands.flac", AUDIO / "cry_donateacry.flac"],
    )
    reported = ProbeClient(f"probe-{device_id}", api_account.username, api_account.password)
    reported.connect(mosquitto.host, mosquitto.port)
    reported.subscribe(topic_for(device_id, MessageKind.REPORTED_CONFIG))
    agent = runner.start()
    try:

        def cries(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [m for m in messages if m["event"] == "CRY_DETECTED"]

        arrived = await wait_until_async(
            lambda: bool(cries(owner_messages) and cries(carer_messages)), 60
        )
        assert arrived, f"owner {owner_messages}, carer {carer_messages}\n{agent.output()}"
        await asyncio.sleep(3)  # a duplicate, if any, would arrive by now
        assert len(cries(owner_messages)) == 1, owner_messages
        assert len(cries(carer_messages)) == 1, carer_messages
        assert cries(owner_messages)[0]["alert_id"] == cries(carer_messages)[0]["alert_id"]
        assert cries(owner_messages)[0]["device_id"] == device_id
        # Live readings reach both screens too, through both processes.
        for messages in (owner_messages, carer_messages):
            readings = [m for m in messages if m["event"] == "READING"]
            assert readings, messages
            assert readings[-1]["device_id"] == device_id
            assert readings[-1]["data"]["temperature"] is not None

        # The owner turns the sensitivity up in the app (through the other API process);
        # the device applies it and says so.
        changed = await http.put(
            f"{second}/devices/{device_id}/settings",
            headers=owner,
            json={"device": {"cry_sensitivity": 0.6}},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["delivery"] == "sent"
        revision = changed.json()["device_settings_revision"]

        def report() -> ReportedConfig | None:
            for message in list(reported.messages):
                payload = decode_message(message.topic, bytes(message.payload))
                if isinstance(payload, ReportedConfig) and payload.revision == revision:
                    return payload
            return None

        assert await wait_until_async(lambda: report() is not None, 20), agent.output()
        applied = report()
        assert applied is not None
        assert applied.accepted
        assert applied.settings["cry_sensitivity"] == 0.6
    finally:
        for listener in listeners:
            listener.cancel()
        reported.client.disconnect()
        await http.aclose()
        assert agent.stop_cleanly(), agent.output()
