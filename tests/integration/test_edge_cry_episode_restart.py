"""A power cut in the middle of a cry, through the real agent, broker, collector and database.

The agent replays an endless cry as its microphone, is killed with SIGKILL (what a power cut
looks like to the software) while the episode is open, and starts again: the episode that was
open must end in the database, at the last time the device knew it was alive, with the honest
reason on the wire, in the database and in the parents' episode list. The cry alert must carry
the room's temperature and humidity.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.claims import generate_claim_code, hash_claim_code
from cloud.config import ApiSettings
from models.contract import Event, MessageKind, decode_message, topic_for
from tests.harness.api import API_TEST_SECRET, Api
from tests.harness.collector import CollectorProcess, register_device
from tests.harness.edge_agent import EdgeAgentRunner
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.services import BrokerAccount
from tests.harness.waiting import wait_until_async

pytestmark = pytest.mark.slow

CRY = Path(__file__).resolve().parents[1] / "data" / "audio" / "cry_donateacry.flac"


StoredEvent = tuple[int, str, int, datetime, float, str | None]


def stored_events(database_url: str, device_id: str) -> list[StoredEvent]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq, kind, episode_id, time, duration_s, end_reason FROM events"
            " WHERE device_id = %s ORDER BY seq",
            (device_id,),
        ).fetchall()
    return [(int(seq), str(kind), int(ep), at, duration, reason)
            for seq, kind, ep, at, duration, reason in rows]  # fmt: skip


def app_settings(database_url: str, tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        database_url=database_url, jwt_secret=API_TEST_SECRET, upload_dir=str(tmp_path / "up")
    )


def claim_in_the_app(database_url: str, device_id: str, tmp_path: Path) -> dict[str, str]:
    """A parent claims the device before it records anything (a device's data belongs to the
    claim period it was recorded in); returns the parent's auth headers."""
    with TestClient(create_app(app_settings(database_url, tmp_path))) as client:
        api = Api(client)
        code = generate_claim_code()
        expires = datetime.now(UTC) + timedelta(days=1)
        api.run(api.storage.set_claim_code, device_id, hash_claim_code(code), expires)
        _, headers, _ = api.signup("Parent")
        claimed = client.post(
            "/devices/claim", headers=headers, json={"claim_code": code, "name": "Nursery"}
        )
        assert claimed.status_code == 201, claimed.text
        return dict(headers)


def episodes_in_the_app(
    database_url: str, device_id: str, tmp_path: Path, headers: dict[str, str]
) -> list[dict[str, object]]:
    """The device's episodes as its owner's app reads them."""
    with TestClient(create_app(app_settings(database_url, tmp_path))) as client:
        response = client.get(f"/devices/{device_id}/episodes", headers=headers)
        assert response.status_code == 200, response.text
        episodes: list[dict[str, object]] = response.json()
        return episodes


def cry_alert_details(database_url: str, device_id: str) -> list[dict[str, object]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT details FROM alerts WHERE device_id = %s AND kind = 'CRY_DETECTED'",
            (device_id,),
        ).fetchall()
    return [row[0] for row in rows]


async def test_an_episode_cut_off_by_a_power_cut_ends_after_the_restart(
    database_url: str,
    mosquitto: MosquittoBroker,
    start_collector: Callable[..., CollectorProcess],
    collector_account: BrokerAccount,
    tmp_path: Path,
) -> None:
    device_id, account = await register_device(database_url, mosquitto)
    start_collector(database_url, f"edge-cut-{device_id}", "")
    probe = ProbeClient(
        f"probe-{device_id}", collector_account.username, collector_account.password
    )
    probe.connect(mosquitto.host, mosquitto.port)
    probe.subscribe(topic_for(device_id, MessageKind.EVENT))

    parent = claim_in_the_app(database_url, device_id, tmp_path)
    crying = EdgeAgentRunner(
        tmp_path, mosquitto, account, audio_files=[CRY], audio_options={"loop": True}
    )
    first = crying.start()

    def events() -> list[StoredEvent]:
        return stored_events(database_url, device_id)

    try:
        assert await wait_until_async(lambda: len(events()) >= 1, timeout_s=60), first.output()
        # Long enough for the agent to note it is alive during the episode at least once.
        await asyncio.sleep(3.0)
    finally:
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    [(start_seq, kind, episode_id, started_at, _, _)] = events()
    assert (kind, episode_id) == ("cry_started", start_seq), first.output()

    # The same device and state folder, now in a quiet house (no audio at all): whatever ends
    # the episode is the restart, not the detector.
    quiet = EdgeAgentRunner(tmp_path, mosquitto, account)
    second = quiet.start()
    try:
        closed = await wait_until_async(lambda: len(events()) >= 2, timeout_s=30)
    finally:
        assert second.stop_cleanly(), second.output()
        await asyncio.sleep(0.5)
        probe.client.disconnect()
    assert closed, f"the episode is still open after the restart: {events()}"
    assert "was still open when the device stopped" in second.output()
    [start, (end_seq, end_kind, end_episode, ended_at, duration_s, end_reason)] = events()
    assert (end_kind, end_episode) == ("cry_ended", start_seq)
    assert end_seq > start_seq
    # Ended at the last time the agent noted it was alive: seconds into the episode, not the
    # start (which would hide how long the cry went on) and not the restart.
    assert 1.5 <= (ended_at - started_at).total_seconds() <= 10.0
    assert duration_s == pytest.approx((ended_at - started_at).total_seconds(), abs=0.1)

    ended = [
        payload
        for message in list(probe.messages)
        if isinstance(payload := decode_message(message.topic, bytes(message.payload)), Event)
        and payload.kind == "cry_ended"
    ]
    assert [event.end_reason for event in ended] == ["device_restarted"]
    # The cloud keeps the reason, and the parents' app is told it: not an ordinary end.
    assert (start[5], end_reason) == (None, "device_restarted")
    [episode] = episodes_in_the_app(database_url, device_id, tmp_path, parent)
    assert (episode["episode_id"], episode["end_reason"]) == (start_seq, "device_restarted")
    assert datetime.fromisoformat(str(episode["ended_at"])) == ended_at

    # The cry alert shows the room as the simulated sensor measured it.
    [details] = cry_alert_details(database_url, device_id)
    temperature, humidity = details.get("temperature"), details.get("humidity")
    assert isinstance(temperature, float), details
    assert 15.0 < temperature < 26.0
    assert isinstance(humidity, float), details
    assert 35.0 < humidity < 55.0
