"""What to do when the device cannot log in to the broker: shared by the check's own login and
its reading of a running agent's status."""

from __future__ import annotations

from edge.publish.mqtt_client import BrokerSettings


def unreachable_fix(settings: BrokerSettings) -> str:
    return (
        f"check broker.host ({settings.host!r}) and broker.port ({settings.port}) in the "
        f"config; that the device is online (`ping {settings.host}`); and that no firewall "
        f"blocks TCP port {settings.port} on the way to the broker"
    )


def credentials_fix() -> str:
    return (
        "check broker.username (default: device.id) and the password in broker.password_file "
        "(the file holds only the password); re-provision the device with `nursery-edge "
        "setup`, or ask the operator to re-issue the device's credentials"
    )


def tls_fix(settings: BrokerSettings) -> str:
    if settings.ca_file is None:
        return "the broker's listener expects TLS: set broker.ca_file to the CA certificate"
    return (
        f"broker.ca_file ({settings.ca_file}) must be the PEM CA certificate that signed the "
        f"broker's certificate, which must name {settings.host!r} (broker.host); a plain "
        "listener (usually port 1883) needs no broker.ca_file"
    )
