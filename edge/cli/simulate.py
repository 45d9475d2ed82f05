"""``nursery-edge simulate``: a simulated device that publishes room readings over MQTT.

Used by the local demo and the tests until a real device is at hand. It speaks the real wire
contract through the real broker, with its own device credentials.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.publish.mqtt_client import BrokerSettings, DeviceMqttClient, MqttError
from edge.publish.sequence import SequenceCounter
from edge.sensors import SensorReadError, SimulatedClimateSensor
from edge.sensors.simulated import SimulatedClimate
from models.contract import ContractError, Telemetry, validate_device_id

logger = logging.getLogger(__name__)

EPILOG = """
examples:
  nursery-edge simulate --device-id nursery-0001 --count 5 --interval 1
  MQTT_PASSWORD=... nursery-edge simulate --device-id nursery-0001 --username nursery-0001
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a simulated device that publishes room readings",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device-id", required=True, help="the device id (its MQTT identity)")
    parser.add_argument("--host", default="127.0.0.1", help="broker host (default: %(default)s)")
    parser.add_argument("--port", type=int, default=1883, help="broker port (default: %(default)s)")
    parser.add_argument(
        "--username", help="broker user name (default: the device id when a password is set)"
    )
    parser.add_argument(
        "--password-env",
        default="MQTT_PASSWORD",
        metavar="VAR",
        help="environment variable holding the broker password (default: %(default)s)",
    )
    parser.add_argument("--ca-file", help="CA certificate for a TLS listener")
    parser.add_argument(
        "--count", type=int, default=0, help="readings to publish, 0 for forever (default: 0)"
    )
    parser.add_argument(
        "--interval", type=float, default=10.0, help="seconds between readings (default: 10)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var/simulated-device"),
        help="where the sequence counter is kept (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        device_id = validate_device_id(args.device_id)
    except ContractError as exc:
        print(f"error: {exc}")
        return 2
    password = os.environ.get(args.password_env) or None
    settings = BrokerSettings(
        host=args.host,
        port=args.port,
        username=args.username or (device_id if password else None),
        password=password,
        ca_file=args.ca_file,
    )
    counter = SequenceCounter(args.state_dir / f"{device_id}.sqlite3")
    sensor = SimulatedClimateSensor(SimulatedClimate(), clock=time.monotonic)
    client = DeviceMqttClient(device_id, settings)
    try:
        client.connect(counter.last_assigned())
        published = 0
        while args.count == 0 or published < args.count:
            try:
                reading = sensor.read()
            except SensorReadError as exc:
                logger.warning("sensor read failed: %s", exc)
            else:
                telemetry = Telemetry(
                    device_id=device_id,
                    seq=counter.take(),
                    ts=datetime.now(UTC),
                    temperature_c=reading.temperature_c,
                    humidity_pct=reading.humidity_pct,
                    interval_s=args.interval,
                )
                client.publish(telemetry)
                published += 1
                print(f"published reading seq={telemetry.seq} {reading}", flush=True)
            if args.count == 0 or published < args.count:
                time.sleep(args.interval)
    except MqttError as exc:
        print(f"error: {exc}")
        return 1
    finally:
        client.close()
        counter.close()
    return 0
