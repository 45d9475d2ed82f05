"""A device cannot take over a client id that is not its own (issue 27, finding 1).

Mosquitto gives a client id to whoever connects with it last and disconnects the holder. Before
``use_username_as_clientid`` a device with valid credentials could connect as the collector:
the broker acknowledged other devices' messages meanwhile and the collector never got them (and
with a clean start the collector's queued session was discarded). Now every connection's client
id is its account's user name, whatever the client asks for.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from models.contract import MessageKind, topic_for
from tests.harness.collector import CollectorProcess, register_device, wait_for_all
from tests.harness.devices import DevicePublisher, telemetry
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import probe
from tests.harness.services import BrokerAccount

pytestmark = pytest.mark.slow

COLLECTOR_CLIENT_ID = "nursery-collector-1"


class Squatter:
    """A device holding (or retrying) a foreign client id with clean start, as the probe did."""

    def __init__(self, mosquitto: MosquittoBroker, account: BrokerAccount, client_id: str) -> None:
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(account.username, account.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.connected = threading.Event()
        self.client.on_connect = lambda *_args: self.connected.set()
        self.client.connect(mosquitto.host, mosquitto.port, clean_start=True)
        self.client.loop_start()
        assert self.connected.wait(10), "the squatting device could not even connect"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_device_with_the_collectors_client_id_does_not_cost_other_devices_messages(
    database_url: str, mosquitto: MosquittoBroker, start_collector: Callable[..., CollectorProcess]
) -> None:
    device_id, account = await register_device(database_url, mosquitto)
    start_collector(database_url, COLLECTOR_CLIENT_ID, "")
    # Whichever id the collector really has - the one it asked for, or its account's name -
    # each taken by a device of its own.
    squatters = []
    for client_id in (COLLECTOR_CLIENT_ID, f"svc.collector.{COLLECTOR_CLIENT_ID}"):
        _squatter_id, squatter_account = await register_device(database_url, mosquitto)
        squatters.append(Squatter(mosquitto, squatter_account, client_id))
    try:
        total = 300
        publisher = DevicePublisher(mosquitto, account, device_id)
        # 3 s of traffic, every message acknowledged by the broker to the device.
        await asyncio.to_thread(publisher.publish_telemetry, device_id, range(total), 100.0)
        publisher.close()
        stored = await wait_for_all(database_url, device_id, total, timeout_s=20.0)
    finally:
        for squatter in squatters:
            squatter.close()
    assert stored == list(range(total)), (
        f"{total} messages acknowledged to the device, {len(set(stored))} stored"
    )


def test_device_with_another_devices_client_id_does_not_kick_it(
    database_url: str, mosquitto: MosquittoBroker
) -> None:
    victim_id, victim = asyncio.run(register_device(database_url, mosquitto))
    _attacker_id, attacker = asyncio.run(register_device(database_url, mosquitto))
    topic = topic_for(victim_id, MessageKind.TELEMETRY)
    with probe(mosquitto.host, mosquitto.port, victim_id, victim.username, victim.password) as v:
        assert not v.connect(mosquitto.host, mosquitto.port).is_failure
        with probe(
            mosquitto.host, mosquitto.port, victim_id, attacker.username, attacker.password
        ) as a:
            assert not a.connect(mosquitto.host, mosquitto.port).is_failure
            time.sleep(1.0)  # the broker disconnects a taken-over holder at once
            assert not v.disconnected.is_set(), "the device was kicked off by another's login"
            assert not v.publish(topic, telemetry(victim_id, 0)).is_failure
