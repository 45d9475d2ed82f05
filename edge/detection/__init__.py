"""Live detection on the device: the shared cry detector fed from the microphone, the level meter
for the periodic telemetry, the loud-sound fallback and the microphone's self-check."""

from edge.detection.audio_health import MicrophoneHealth
from edge.detection.heard import heard_for_event
from edge.detection.level import BlockLevelSplitter, LevelSummary, SoundLevelMeter
from edge.detection.live import LiveDetector, TimedCryEvent
from edge.detection.loud_sound import LoudSound, LoudSoundDetector, TimedLoudSound
from edge.detection.sensitivity import hysteresis_for

__all__ = [
    "BlockLevelSplitter",
    "LevelSummary",
    "LiveDetector",
    "LoudSound",
    "LoudSoundDetector",
    "MicrophoneHealth",
    "SoundLevelMeter",
    "TimedCryEvent",
    "TimedLoudSound",
    "heard_for_event",
    "hysteresis_for",
]
