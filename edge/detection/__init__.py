"""Live cry detection on the device: the shared detector fed from the microphone, plus a level
meter for the periodic telemetry."""

from edge.detection.level import LevelSummary, SoundLevelMeter
from edge.detection.live import LiveDetector, TimedCryEvent
from edge.detection.sensitivity import hysteresis_for

__all__ = ["LevelSummary", "LiveDetector", "SoundLevelMeter", "TimedCryEvent", "hysteresis_for"]
