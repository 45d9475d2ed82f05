"""MQTT topic layout of wire contract v1: builders, parsers and the delivery policy per kind.

Every topic lives under ``nursery/v1/<device_id>/``. The version is part of the topic so that a
breaking change can run beside v1 (``nursery/v2/...``) while devices are upgraded; additive changes
stay in v1 and are tolerated by older readers (unknown payload fields are ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

TOPIC_ROOT = "nursery/v1"

# Device ids become MQTT topic levels and broker user names: no wildcards, no separators, no
# upper case (so that "Nursery-1" and "nursery-1" can never be two devices).
DEVICE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{2,63}$")


class ContractError(ValueError):
    """A topic or payload that does not follow the wire contract."""


class MessageKind(StrEnum):
    """What a message is; each kind has exactly one topic suffix and one delivery policy."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"
    DESIRED_CONFIG = "config/desired"
    REPORTED_CONFIG = "config/reported"
    # The episodes a home marked "not a cry" (ids and dates only, never sound): the device
    # ignores new episodes that sound like them (docs/alarms.md, "Not a cry").
    IGNORE_LIST = "ignore/desired"


class Direction(StrEnum):
    DEVICE_TO_CLOUD = "device → cloud"
    CLOUD_TO_DEVICE = "cloud → device"


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How a kind travels: MQTT QoS, the retain flag and who publishes it."""

    qos: int
    retain: bool
    direction: Direction
    # Stream kinds are kept in the device outbox and deduplicated by (device_id, seq);
    # state kinds are "latest value wins" and are retained by the broker instead.
    durable_stream: bool


# The single table of QoS/retain per kind; docs/protocol.md is checked against it by a test.
DELIVERY_POLICIES: dict[MessageKind, DeliveryPolicy] = {
    MessageKind.TELEMETRY: DeliveryPolicy(1, False, Direction.DEVICE_TO_CLOUD, True),
    MessageKind.EVENT: DeliveryPolicy(1, False, Direction.DEVICE_TO_CLOUD, True),
    MessageKind.STATUS: DeliveryPolicy(1, True, Direction.DEVICE_TO_CLOUD, False),
    MessageKind.DESIRED_CONFIG: DeliveryPolicy(1, True, Direction.CLOUD_TO_DEVICE, False),
    MessageKind.REPORTED_CONFIG: DeliveryPolicy(1, True, Direction.DEVICE_TO_CLOUD, False),
    # Retained like the desired config: the latest list is what counts, and a device that was
    # offline when a parent pressed "Not a cry" gets it from the broker when it reconnects.
    MessageKind.IGNORE_LIST: DeliveryPolicy(1, True, Direction.CLOUD_TO_DEVICE, False),
}


def validate_device_id(device_id: str) -> str:
    """Return ``device_id`` unchanged if it may be used as a topic level and broker user name."""
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise ContractError(
            f"invalid device id {device_id!r}: use 3-64 characters of a-z, 0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    return device_id


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """A parsed v1 topic: which device it belongs to and which kind of message it carries."""

    device_id: str
    kind: MessageKind

    def __str__(self) -> str:
        return f"{TOPIC_ROOT}/{self.device_id}/{self.kind.value}"

    @property
    def policy(self) -> DeliveryPolicy:
        return DELIVERY_POLICIES[self.kind]


def topic_for(device_id: str, kind: MessageKind) -> str:
    """The topic a device's message of ``kind`` is published on."""
    return str(DeviceTopic(validate_device_id(device_id), kind))


# Cached: the collector parses the topic of every message, and a fleet publishes on a few
# topics per device (a third of the cost of decoding a reading before). Errors are not cached.
@lru_cache(maxsize=65_536)
def parse_topic(topic: str) -> DeviceTopic:
    """Parse a concrete (wildcard-free) v1 topic; raises ContractError for anything else."""
    prefix = TOPIC_ROOT + "/"
    if not topic.startswith(prefix):
        raise ContractError(f"topic {topic!r} is not under {TOPIC_ROOT}/")
    device_id, _, suffix = topic[len(prefix) :].partition("/")
    try:
        kind = MessageKind(suffix)
    except ValueError:
        raise ContractError(f"topic {topic!r} has an unknown message kind {suffix!r}") from None
    return DeviceTopic(validate_device_id(device_id), kind)


def subscription_filter(kind: MessageKind, share_group: str | None = None) -> str:
    """A filter matching ``kind`` from every device, optionally as an MQTT 5 shared subscription.

    With ``share_group`` the broker hands each message to one member of the group, which is how
    several collectors split the load.
    """
    topic_filter = f"{TOPIC_ROOT}/+/{kind.value}"
    if share_group is None:
        return topic_filter
    if not share_group or any(c in share_group for c in "/+#"):
        raise ContractError(f"invalid shared-subscription group {share_group!r}")
    return f"$share/{share_group}/{topic_filter}"
