"""The broker refuses oversized device payloads (issue 27, finding 11).

Without a limit Mosquitto accepted a 20 MB payload from a device, held it in memory and passed
it on. Now a packet over ``max_packet_size`` closes the sender's connection and reaches nobody,
while a payload at the contract's own limit still goes through.
"""

from __future__ import annotations

import asyncio
import time

from models.contract import MAX_PAYLOAD_BYTES, MessageKind, topic_for
from tests.harness.collector import register_device
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.services import BrokerAccount

OVERSIZED = {"100 KiB": 100 * 1024, "20 MB": 20 * 1024 * 1024}


def _payload(size: int) -> bytes:
    return b"{" + b" " * (size - 2) + b"}"


def test_oversized_payloads_are_refused_and_reach_nobody(
    database_url: str, mosquitto: MosquittoBroker, collector_account: BrokerAccount
) -> None:
    device_id, device = asyncio.run(register_device(database_url, mosquitto))
    topic = topic_for(device_id, MessageKind.TELEMETRY)
    with probe(
        mosquitto.host,
        mosquitto.port,
        f"watch-{device_id}",
        collector_account.username,
        collector_account.password,
    ) as watcher:
        assert not watcher.connect(mosquitto.host, mosquitto.port).is_failure
        assert not watcher.subscribe(topic).is_failure

        with probe(
            mosquitto.host, mosquitto.port, device_id, device.username, device.password
        ) as d:
            assert not d.connect(mosquitto.host, mosquitto.port).is_failure
            # The contract's largest payload must still pass (the collector judges it).
            assert not d.publish(topic, _payload(MAX_PAYLOAD_BYTES)).is_failure

        for name, size in OVERSIZED.items():
            with probe(
                mosquitto.host, mosquitto.port, device_id, device.username, device.password
            ) as d:
                assert not d.connect(mosquitto.host, mosquitto.port).is_failure
                d.client.publish(topic, _payload(size), qos=1)
                # The broker drops the connection instead of taking the packet in.
                assert d.disconnected.wait(20), f"the broker accepted a {name} packet"

        time.sleep(0.5)  # anything the broker passed on would have arrived by now
        sizes = [len(message.payload) for message in watcher.messages]
        assert sizes == [MAX_PAYLOAD_BYTES], f"the broker delivered payloads of {sizes} bytes"
