"""Cry detection shared by the edge and the cloud: features, model runtime, episodes."""

from models.cry.audio import load_audio, resample, rms_dbfs
from models.cry.detector import Analysis, CryDetector, WindowScorer, default_model_manifest_path
from models.cry.episodes import (
    CryEvent,
    Episode,
    EpisodeTracker,
    HeardLabel,
    HysteresisParams,
    WindowScore,
)
from models.cry.errors import AudioLoadError, CryDetectorError, ModelLoadError, RuntimeMissingError
from models.cry.features import LogMelParams, StreamingLogMel, WindowParams, log_mel
from models.cry.manifest import ModelManifest, load_manifest

__all__ = [
    "Analysis",
    "AudioLoadError",
    "CryDetector",
    "CryDetectorError",
    "CryEvent",
    "Episode",
    "EpisodeTracker",
    "HeardLabel",
    "HysteresisParams",
    "LogMelParams",
    "ModelLoadError",
    "ModelManifest",
    "RuntimeMissingError",
    "StreamingLogMel",
    "WindowParams",
    "WindowScore",
    "WindowScorer",
    "default_model_manifest_path",
    "load_audio",
    "load_manifest",
    "log_mel",
    "resample",
    "rms_dbfs",
]
