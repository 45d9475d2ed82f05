"""The collector under failure, through the real broker and database, as separate processes.

Each test publishes numbered readings and then checks the database holds every number exactly
once: nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable, Iterator

import pytest

from models.contract import MessageKind, topic_for
from tests.harness.collector import CollectorProcess, register_device, wait_for_all
from tests.harness.database import count_dead_letters, stored_seqs
from tests.harness.devices import DevicePublisher, telemetry
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.postgres import PrivateCluster
from tests.harness.services import BrokerAccount

pytestmark = pytest.mark.slow


async def test_kill_9_mid_stream_loses_nothing_and_stores_nothing_twice(
    database_url: str, mosquitto: MosquittoBroker, start_collector: Callable[..., CollectorProcess]
) -> None:
    device_id, account = await register_device(database_url, mosquitto)
    total = 3000
    client_id = f"kill9-{device_id}"
    collector = start_collector(database_url, client_id, "kill9")
    publisher = DevicePublisher(mosquitto, account, device_id)
    publishing = asyncio.create_task(
        asyncio.to_thread(publisher.publish_telemetry, device_id, range(total), 1500.0)
    )
    await wait_for_all(database_url, device_id, 300, settle_s=0)
    collector.process.stop(signal.SIGKILL)
    await publishing
    publisher.close()
    stored_while_down = len(await asyncio.to_thread(stored_seqs, database_url, device_id))
    assert stored_while_down < total, "the collector was killed too late to prove anything"
    start_collector(database_url, client_id, "kill9")  # same client id: same broker session
    assert await wait_for_all(database_url, device_id, total) == list(range(total))


async def test_two_collectors_in_one_shared_group_split_the_work(
    database_url: str, mosquitto: MosquittoBroker, start_collector: Callable[..., CollectorProcess]
) -> None:
    device_ids = [await register_device(database_url, mosquitto) for _ in range(4)]
    first = start_collector(database_url, f"split-a-{uuid.uuid4().hex[:6]}", "split")
    second = start_collector(database_url, f"split-b-{uuid.uuid4().hex[:6]}", "split")
    per_device = 500

    def publish(device_id: str, account: BrokerAccount) -> None:
        publisher = DevicePublisher(mosquitto, account, device_id)
        publisher.publish_telemetry(device_id, range(per_device))
        publisher.close()

    await asyncio.gather(*(asyncio.to_thread(publish, d, a) for d, a in device_ids))
    for device_id, _account in device_ids:
        assert await wait_for_all(database_url, device_id, per_device) == list(range(per_device))
    received = (first.telemetry_received(), second.telemetry_received())
    assert sum(received) == per_device * len(device_ids)
    assert min(received) > 0.2 * sum(received), f"one collector did (almost) nothing: {received}"


async def test_malformed_flood_is_dead_lettered_while_valid_traffic_flows(
    database_url: str, mosquitto: MosquittoBroker, start_collector: Callable[..., CollectorProcess]
) -> None:
    device_id, account = await register_device(database_url, mosquitto)
    start_collector(database_url, f"flood-{device_id}", "flood")
    topic = topic_for(device_id, MessageKind.TELEMETRY)
    garbage = [b"\x00\xff not json", b'{"seq": "x"}', b"[]", b'{"device_id": "other"}']
    payloads = []
    for seq in range(1000):
        payloads += [garbage[seq % len(garbage)], telemetry(device_id, seq)]
    publisher = DevicePublisher(mosquitto, account, device_id)
    await asyncio.to_thread(publisher.publish, topic, payloads)
    publisher.close()
    assert await wait_for_all(database_url, device_id, 1000) == list(range(1000))
    assert await asyncio.to_thread(count_dead_letters, database_url, topic) == 1000


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    cluster.initialize()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        cluster.remove()


async def test_database_outage_of_20_seconds_loses_nothing(
    private_cluster: PrivateCluster,
    mosquitto: MosquittoBroker,
    start_collector: Callable[..., CollectorProcess],
) -> None:
    database_url = private_cluster.url
    device_id, account = await register_device(database_url, mosquitto)
    start_collector(database_url, f"outage-{device_id}", "outage")
    total, rate = 1500, 50.0  # 30 s of traffic
    publisher = DevicePublisher(mosquitto, account, device_id)
    publishing = asyncio.create_task(
        asyncio.to_thread(publisher.publish_telemetry, device_id, range(total), rate)
    )
    await asyncio.sleep(4)
    await asyncio.to_thread(private_cluster.stop)
    await asyncio.sleep(20)
    await asyncio.to_thread(private_cluster.start)
    await publishing
    publisher.close()
    assert await wait_for_all(database_url, device_id, total) == list(range(total))
