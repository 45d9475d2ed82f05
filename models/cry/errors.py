"""The cry detector's exception family; library errors are wrapped with ``raise ... from``."""

from __future__ import annotations


class CryDetectorError(Exception):
    """Base class for everything the cry detector raises on purpose."""


class ModelLoadError(CryDetectorError):
    """The model manifest or .tflite file is missing, malformed or fails its checksum."""


class RuntimeMissingError(ModelLoadError):
    """No TFLite interpreter package is installed."""


class AudioLoadError(CryDetectorError):
    """An audio file cannot be read or decoded."""
