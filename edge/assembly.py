"""The composition root: turns a validated ``AgentConfig`` into a ready ``EdgeAgent``.

The only place that knows which concrete sensor, audio source and model the config asks for.
Hardware libraries are imported here, lazily, and only for the kinds the config selects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from edge.audio import AudioSource, AudioSourceError, FileReplaySource
from edge.config import AgentConfig
from edge.daemon import AgentParts, EdgeAgent
from edge.detection import LiveDetector, LoudSoundDetector, MicrophoneHealth, SoundLevelMeter
from edge.publish.backoff import BackoffPolicy
from edge.publish.mqtt_client import BrokerSettings
from edge.publish.outbox import Outbox
from edge.sensors import ClimateSampler, ClimateSensor, SensorRange, SimulatedClimateSensor
from edge.sensors.reopening import ReopeningSensor
from edge.sensors.simulated import SimulatedClimate
from edge.systemd import SystemdNotifier
from edge.timesync import ClockMonitor
from models.cry import CryDetector, CryDetectorError, load_manifest
from models.cry.detector import default_model_manifest_path

logger = logging.getLogger(__name__)

# Beside the outbox: the episodes' fingerprints and the home's "not a cry" list.
SOUND_MEMORY_FILE = "sound-memory.sqlite3"


class AssemblyError(RuntimeError):
    """A part the config asks for cannot be set up (model missing, audio files unreadable)."""


def firmware_version() -> str:
    try:
        return metadata.version("nursery")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_sensor(config: AgentConfig) -> ClimateSampler | None:
    section = config.sensor
    sensor: ClimateSensor
    if section.kind == "none":
        return None
    if section.kind == "simulated":
        sensor = SimulatedClimateSensor(SimulatedClimate(), clock=time.monotonic)
        range_ = SensorRange.DHT22
    else:
        from edge.sensors.dht import DhtClimateSensor

        kind, pin = section.kind, section.pin
        # Opened on first read and re-opened after a setup failure (GPIO busy after a crash):
        # a sensor problem is a reported fault, never a reason to stop listening for cries.
        sensor = ReopeningSensor(lambda: DhtClimateSensor(kind, pin), f"{kind} on {pin}")
        range_ = SensorRange.DHT11 if section.kind == "dht11" else SensorRange.DHT22
    return ClimateSampler(
        sensor,
        time.monotonic,
        range_=range_,
        min_interval_s=2.0,
        window=section.median_window,
        fault_after=section.fault_after,
        stuck_after_s=section.stuck_after_s,
    )


def build_audio(config: AgentConfig) -> AudioSource | None:
    section = config.audio
    if section.source == "none":
        return None
    try:
        if section.source == "file":
            return FileReplaySource(
                section.files,
                chunk_s=section.chunk_s,
                realtime=section.realtime,
                loop=section.loop,
                gap_s=section.gap_s,
            )
        from edge.audio.microphone import MicrophoneSource

        device = section.device if section.device != "" else None
        return MicrophoneSource(device, chunk_s=section.chunk_s, buffer_s=section.buffer_s)
    except AudioSourceError as exc:
        raise AssemblyError(
            f"audio.{'files' if section.source == 'file' else 'device'}: {exc}"
        ) from exc


# The contract's bound on a fault detail (models/contract/payloads.py FaultDetail).
FAULT_DETAIL_MAX = 300


def build_detector(config: AgentConfig) -> tuple[CryDetector, str]:
    """The configured cry detector and its model version.

    A manifest whose stage two (YAMNet and the cry head) cannot load still gives a detector: the
    small model alone (``detector.mode == "degraded"``), which the agent reports as a fault.
    """
    manifest_path = config.detector.model_manifest or default_model_manifest_path()
    try:
        manifest = load_manifest(manifest_path)
        detector = CryDetector.from_manifest(manifest, num_threads=config.detector.num_threads)
    except CryDetectorError as exc:
        raise AssemblyError(f"detector.model_manifest: {exc}") from exc
    name = str(manifest.extra.get("name", "cry-model"))
    return detector, f"{name}-{manifest.sha256[:12]}"[:64]


def detector_mode_text(detector: CryDetector) -> str:
    """ "cascade", "small" or "degraded: <why>", as the status file and the check show it."""
    if detector.mode == "degraded":
        return f"degraded: {detector.degraded_reason}"
    return detector.mode


def degraded_fault_detail(detector: CryDetector) -> str | None:
    """The ``cry_model_degraded`` fault's sentence, None when stage two runs (or there is none)."""
    if detector.mode != "degraded":
        return None
    detail = (
        f"stage two did not load, detecting with the small model alone: {detector.degraded_reason}"
    )
    # A longer detail would make the whole status payload invalid; the reason's start says most.
    if len(detail) > FAULT_DETAIL_MAX:
        detail = detail[: FAULT_DETAIL_MAX - 3] + "..."
    return detail


def build_agent(config: AgentConfig, env: Mapping[str, str]) -> EdgeAgent:
    """Everything the config describes, wired together; nothing is started yet."""
    state_dir = Path(config.device.state_dir)
    broker = config.broker
    audio = build_audio(config)
    live = meter = loud = microphone = None
    model_version = detector_mode = detector_fault = None
    if audio is not None:
        detector, model_version = build_detector(config)
        detector_mode = detector_mode_text(detector)
        detector_fault = degraded_fault_detail(detector)
        meter = SoundLevelMeter(detector.sample_rate)
        live = LiveDetector(detector, config.settings, meter)
        loud = LoudSoundDetector(config.settings, detector.sample_rate)
        microphone = MicrophoneHealth(detector.sample_rate, config.audio.dead_after_s)
    sampler = build_sensor(config)
    parts = AgentParts(
        device_id=config.device.id,
        settings=config.settings,
        outbox=Outbox(state_dir / "outbox.sqlite3", config.outbox.max_messages),
        broker=BrokerSettings(
            host=broker.host,
            port=broker.port,
            username=broker.username or config.device.id,
            password=config.broker_password(),
            ca_file=str(broker.ca_file) if broker.ca_file else None,
            keepalive_s=broker.keepalive_s,
            protocol=broker.mqtt_protocol,
        ),
        backoff=BackoffPolicy(initial_s=broker.reconnect_initial_s, max_s=broker.reconnect_max_s),
        max_in_flight=config.outbox.max_in_flight,
        remote_state_path=state_dir / "remote-settings.json",
        sound_memory_path=state_dir / SOUND_MEMORY_FILE,
        state_dir=state_dir,
        sampler=sampler,
        sensor_interval_s=config.sensor.read_interval_s,
        audio=audio,
        live=live,
        meter=meter,
        loud=loud,
        microphone=microphone,
        clock=ClockMonitor(),
        firmware_version=firmware_version(),
        model_version=model_version,
        detector_mode=detector_mode,
        detector_fault=detector_fault,
        flush_timeout_s=config.outbox.flush_timeout_s,
        notifier=SystemdNotifier.from_environment(env),
    )
    return EdgeAgent(parts)
