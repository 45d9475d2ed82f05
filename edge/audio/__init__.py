"""Audio input behind one small interface: the live microphone and a file replay.

Importing this package never imports ``sounddevice``; the microphone loads it when used.
"""

from edge.audio.base import (
    MODEL_SAMPLE_RATE,
    AudioChunk,
    AudioSource,
    AudioSourceError,
    AudioStats,
    MicrophoneNotFoundError,
)
from edge.audio.microphone import InputDevice, MicrophoneSource, list_input_devices
from edge.audio.replay import FileReplaySource
from edge.audio.ring import SampleRing

__all__ = [
    "MODEL_SAMPLE_RATE",
    "AudioChunk",
    "AudioSource",
    "AudioSourceError",
    "AudioStats",
    "FileReplaySource",
    "InputDevice",
    "MicrophoneNotFoundError",
    "MicrophoneSource",
    "SampleRing",
    "list_input_devices",
]
