"""The MQTT collector: validates device messages and stores them, acknowledging after commit."""

from cloud.collector.service import Collector

__all__ = ["Collector"]
