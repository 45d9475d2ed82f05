"""Wire contract v1 between devices and the cloud: topics, delivery policies and payloads.

Pure data and parsing, no I/O: both the edge agent and the cloud import it.
"""

from models.contract.payloads import (
    MAX_HEARD_LABELS,
    MAX_PAYLOAD_BYTES,
    PAYLOAD_MODELS,
    SCHEMA_VERSION,
    DesiredConfig,
    Envelope,
    Event,
    HeardLabel,
    Payload,
    ReportedConfig,
    SettingValue,
    Status,
    Telemetry,
    decode_message,
    kind_of,
)
from models.contract.settings import DeviceSettings, parse_device_settings
from models.contract.time_window import (
    DEFAULT_MAX_AHEAD,
    EARLIEST_DEVICE_TIME,
    LARGEST_MAX_AHEAD,
    TimeWindow,
)
from models.contract.topics import (
    DELIVERY_POLICIES,
    TOPIC_ROOT,
    ContractError,
    DeliveryPolicy,
    DeviceTopic,
    Direction,
    MessageKind,
    parse_topic,
    subscription_filter,
    topic_for,
    validate_device_id,
)

__all__ = [
    "DEFAULT_MAX_AHEAD",
    "DELIVERY_POLICIES",
    "EARLIEST_DEVICE_TIME",
    "LARGEST_MAX_AHEAD",
    "MAX_HEARD_LABELS",
    "MAX_PAYLOAD_BYTES",
    "PAYLOAD_MODELS",
    "SCHEMA_VERSION",
    "TOPIC_ROOT",
    "ContractError",
    "DeliveryPolicy",
    "DesiredConfig",
    "DeviceSettings",
    "DeviceTopic",
    "Direction",
    "Envelope",
    "Event",
    "HeardLabel",
    "MessageKind",
    "Payload",
    "ReportedConfig",
    "SettingValue",
    "Status",
    "Telemetry",
    "TimeWindow",
    "decode_message",
    "kind_of",
    "parse_device_settings",
    "parse_topic",
    "subscription_filter",
    "topic_for",
    "validate_device_id",
]
