"""Broker settings and the paho-mqtt 2.x client built from them (credentials, TLS, protocol)."""

from __future__ import annotations

from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


class MqttError(RuntimeError):
    """The broker could not be reached, refused us, or did not acknowledge in time."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    keepalive_s: int = 30
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5
    # Seconds a TCP/TLS connect may take before the attempt counts as failed.
    connect_timeout_s: float = 10.0


def new_client(client_id: str, settings: BrokerSettings) -> mqtt.Client:
    """A paho client (callback API v2) for one device; not yet connected."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=settings.protocol,
        # MQTT 3.1.1 has a clean-session flag instead of MQTT 5's clean start; the device needs no
        # broker-side session: its desired config is retained and its outbox is on disk.
        clean_session=True if settings.protocol != MQTTProtocolVersion.MQTTv5 else None,
        # The device drives reconnects itself, with jittered backoff (DeviceConnection).
        reconnect_on_failure=False,
    )
    client.connect_timeout = settings.connect_timeout_s
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.ca_file:
        client.tls_set(ca_certs=settings.ca_file)
    return client
