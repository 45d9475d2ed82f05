"""The edge agent as a real process against the real broker (and collector and database).

Every test reads back what arrived: sequence numbers in the database, payloads on the broker.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from edge.publish.outbox import Outbox
from models.contract import (
    DesiredConfig,
    MessageKind,
    ReportedConfig,
    Status,
    Telemetry,
    decode_message,
    topic_for,
)
from tests.harness.collector import CollectorProcess, register_device, wait_for_all
from tests.harness.edge_agent import EdgeAgentRunner
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.services import BrokerAccount, create_account

pytestmark = pytest.mark.slow


def reading_times(database_url: str, device_id: str) -> list[tuple[int, datetime]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq, time FROM readings WHERE device_id = %s ORDER BY seq", (device_id,)
        ).fetchall()
    return [(int(seq), at) for seq, at in rows]


def last_assigned_and_depth(runner: EdgeAgentRunner) -> tuple[int, int]:
    outbox = Outbox(runner.outbox_path)
    try:
        return outbox.last_assigned_seq(), outbox.depth
    finally:
        outbox.close()


async def test_a_broker_outage_of_20_seconds_loses_no_reading_and_stores_none_twice(
    database_url: str,
    mosquitto: MosquittoBroker,
    start_collector: Callable[..., CollectorProcess],
    tmp_path: Path,
) -> None:
    device_id, account = await register_device(database_url, mosquitto)
    # A plain subscription: Mosquitto 2.0 does not restore shared ones after a restart.
    start_collector(database_url, f"edge-outage-{device_id}", "")
    runner = EdgeAgentRunner(tmp_path, mosquitto, account)
    agent = runner.start()
    try:
        assert len(await wait_for_all(database_url, device_id, 3, settle_s=0)) >= 3
        mosquitto.stop()
        await asyncio.sleep(20)
        assert agent.process.poll() is None, agent.output()
        created_while_down = last_assigned_and_depth(runner)[0]
        mosquitto.start()
        await wait_for_all(database_url, device_id, created_while_down + 1, settle_s=0)
    finally:
        assert agent.stop_cleanly(), agent.output()
    runner_seq, depth = last_assigned_and_depth(runner)
    assert depth == 0, "a clean stop with the broker up flushes the outbox"
    assert runner_seq >= 20, "the outage should have produced readings while the broker was down"
    stored = await wait_for_all(database_url, device_id, runner_seq + 1)
    assert stored == list(range(runner_seq + 1)), agent.output()


async def test_kill_9_and_restart_loses_nothing_and_reuses_no_sequence_number(
    database_url: str,
    mosquitto: MosquittoBroker,
    start_collector: Callable[..., CollectorProcess],
    tmp_path: Path,
) -> None:
    device_id, account = await register_device(database_url, mosquitto)
    start_collector(database_url, f"edge-kill-{device_id}", "")
    runner = EdgeAgentRunner(tmp_path, mosquitto, account)
    first = runner.start()
    await wait_for_all(database_url, device_id, 3, settle_s=0)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    killed_at_seq, _ = last_assigned_and_depth(runner)
    second = runner.start()
    try:
        await wait_for_all(database_url, device_id, killed_at_seq + 4, settle_s=0)
    finally:
        assert second.stop_cleanly(), second.output()
    last_seq, depth = last_assigned_and_depth(runner)
    assert depth == 0
    assert last_seq > killed_at_seq
    assert await wait_for_all(database_url, device_id, last_seq + 1) == list(range(last_seq + 1))
    # A message re-sent as a *new* number would carry an older reading time than its
    # predecessor; numbers and reading times rise together across the kill.
    times = [at for _seq, at in reading_times(database_url, device_id)]
    assert times == sorted(times)
    assert len(set(times)) == len(times)


def desired(device_id: str, revision: int, **settings: float | bool | str) -> bytes:
    payload = DesiredConfig(
        device_id=device_id, seq=revision, ts=datetime.now(UTC), settings=settings
    )
    return payload.to_json()


def wait_for_report(probe: ProbeClient, revision: int, timeout_s: float = 20.0) -> ReportedConfig:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in list(probe.messages):
            if message.topic.endswith("/config/reported"):
                report = decode_message(message.topic, bytes(message.payload))
                assert isinstance(report, ReportedConfig)
                if report.revision == revision:
                    return report
        time.sleep(0.05)
    raise AssertionError(f"no reported config for revision {revision}")


def telemetry_arrivals(probe: ProbeClient) -> list[float]:
    return [
        message.timestamp
        for message in list(probe.messages)
        if message.topic.endswith("/telemetry")
    ]


async def test_remote_config_is_validated_applied_live_and_reported(
    mosquitto: MosquittoBroker,
    api_account: BrokerAccount,
    collector_account: BrokerAccount,
    tmp_path: Path,
) -> None:
    device_id = f"cfg-{uuid.uuid4().hex[:10]}"
    account = create_account(mosquitto, device_id)
    runner = EdgeAgentRunner(tmp_path, mosquitto, account, settings={"telemetry_interval_s": 5})
    probe = ProbeClient(f"probe-{device_id}", api_account.username, api_account.password)
    probe.connect(mosquitto.host, mosquitto.port)
    probe.subscribe(topic_for(device_id, MessageKind.REPORTED_CONFIG))
    agent = runner.start()
    try:
        desired_topic = topic_for(device_id, MessageKind.DESIRED_CONFIG)
        probe.publish(desired_topic, desired(device_id, 1, cry_sensitivity=1.7), retain=True)
        refused = await asyncio.to_thread(wait_for_report, probe, 1)
        assert not refused.accepted
        assert refused.error is not None
        assert refused.error.startswith("cry_sensitivity:"), refused.error
        assert refused.settings["telemetry_interval_s"] == 5.0

        probe.publish(desired_topic, desired(device_id, 2, telemetri_interval_s=1), retain=True)
        unknown = await asyncio.to_thread(wait_for_report, probe, 2)
        assert unknown.error == "telemetri_interval_s: unknown setting"

        # Devices may not read telemetry (not even their own): watch as the collector does.
        watcher = ProbeClient(
            f"watch-{device_id}", collector_account.username, collector_account.password
        )
        watcher.connect(mosquitto.host, mosquitto.port)
        watcher.subscribe(topic_for(device_id, MessageKind.TELEMETRY))
        probe.publish(desired_topic, desired(device_id, 3, telemetry_interval_s=1), retain=True)
        accepted = await asyncio.to_thread(wait_for_report, probe, 3)
        assert accepted.accepted
        assert accepted.error is None
        assert accepted.settings["telemetry_interval_s"] == 1.0
        await asyncio.sleep(6)
        arrivals = telemetry_arrivals(watcher)
        assert len(arrivals) >= 4, f"interval change not live: {arrivals}\n{agent.output()}"
    finally:
        assert agent.stop_cleanly(), agent.output()
    stored = json.loads((runner.state_dir / "remote-settings.json").read_text())
    assert stored == {"revision": 3, "overrides": {"telemetry_interval_s": 1}}

    # After a restart the device runs with revision 3 at once and reports it again.
    probe.messages.clear()
    again = runner.start()
    try:
        report = await asyncio.to_thread(wait_for_report, probe, 3)
        assert report.accepted
        assert report.settings["telemetry_interval_s"] == 1.0
    finally:
        assert again.stop_cleanly(), again.output()
        probe.client.disconnect()
        watcher.client.disconnect()


async def test_mqtt_3_1_1_is_selectable_and_delivers_the_same_payloads(
    mosquitto: MosquittoBroker, collector_account: BrokerAccount, tmp_path: Path
) -> None:
    device_id = f"v311-{uuid.uuid4().hex[:10]}"
    account = create_account(mosquitto, device_id)
    watcher = ProbeClient(
        f"watch-{device_id}", collector_account.username, collector_account.password
    )
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.subscribe(topic_for(device_id, MessageKind.TELEMETRY))
    watcher.subscribe(topic_for(device_id, MessageKind.STATUS))
    runner = EdgeAgentRunner(tmp_path, mosquitto, account, broker_options={"protocol": "3.1.1"})
    agent = runner.start()
    try:
        await asyncio.sleep(4)
    finally:
        assert agent.stop_cleanly(), agent.output()
        watcher.client.disconnect()
    payloads = [decode_message(m.topic, bytes(m.payload)) for m in list(watcher.messages)]
    assert any(isinstance(p, Telemetry) for p in payloads), agent.output()
    states = [p.state for p in payloads if isinstance(p, Status)]
    assert states[0] == "online"
    assert states[-1] == "offline"  # said on the clean stop, as the will would have
