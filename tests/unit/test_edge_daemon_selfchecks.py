"""The daemon's wiring of the self-checks and the loud-sound fallback, without a broker.

The agent runs in-process against a port nothing listens on: what it would publish stays in
its outbox and status, where the test reads it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edge.audio import FileReplaySource
from edge.daemon import EdgeAgent
from edge.detection import LiveDetector, LoudSoundDetector, MicrophoneHealth, SoundLevelMeter
from edge.health import HealthSnapshot, StatusReporter
from edge.sensors import ClimateSampler, SimulatedClimateSensor
from edge.sensors.simulated import SimulatedClimate
from edge.timesync import ClockMonitor
from models.contract import DeviceSettings, MessageKind, Status, decode_message, topic_for
from models.cry import CryDetector
from tests.harness.edge_parts import DEVICE, agent_parts, events_in

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"


def test_stuck_sensor_dead_microphone_and_clock_are_faults_with_details(tmp_path: Path) -> None:
    now = [0.0]
    sampler = ClimateSampler(
        SimulatedClimateSensor(SimulatedClimate(stuck=True), lambda: now[0]),
        lambda: now[0],
        stuck_after_s=600.0,
    )
    for step in range(0, 601, 30):
        now[0] = float(step)
        sampler.sample()
    microphone = MicrophoneHealth(16_000, dead_after_s=2.0)
    microphone.add(np.zeros(32_000, dtype=np.float32))
    clock = ClockMonitor(lambda: False)
    clock.poll()
    agent = EdgeAgent(agent_parts(tmp_path, sampler=sampler, microphone=microphone, clock=clock))

    status = agent.local_status()
    assert status["faults"] == ["sensor_stuck", "microphone_dead", "clock"]
    details = status["fault_details"]
    assert isinstance(details, dict)
    assert list(details) == status["faults"]
    assert details["sensor_stuck"].startswith("every read for 10 min was exactly ")
    assert details["microphone_dead"].startswith("every sample was digital zero for 2 s")
    assert "not synchronised by NTP" in details["clock"]


def test_the_status_message_carries_the_details_and_omits_them_when_all_is_well() -> None:
    snapshot = HealthSnapshot(0, 0, 0, 0, 0, ["clock"], {"clock": "system time ..."})
    reporter = StatusReporter(DEVICE, "test", None, lambda: snapshot, lambda: 5)
    sent = reporter.status("online").to_json()
    received = decode_message(topic_for(DEVICE, MessageKind.STATUS), sent)
    assert isinstance(received, Status)
    assert received.faults == ["clock"]
    assert received.fault_details == {"clock": "system time ..."}
    healthy = StatusReporter(DEVICE, "test", None, lambda: HealthSnapshot(0, 0, 0, 0, 0), lambda: 5)
    assert b"fault_details" not in healthy.status("online").to_json()


def test_a_fan_recording_becomes_one_loud_sound_event_in_the_outbox(tmp_path: Path) -> None:
    detector = CryDetector.from_manifest(None)
    rate = detector.sample_rate
    meter = SoundLevelMeter(rate)
    settings = DeviceSettings()
    parts = agent_parts(
        tmp_path,
        audio=FileReplaySource([AUDIO / "fan_with_faint_cry.flac"], realtime=False),
        live=LiveDetector(detector, settings, meter),
        meter=meter,
        loud=LoudSoundDetector(settings, rate),
        microphone=MicrophoneHealth(rate, dead_after_s=2.0),
    )
    agent = EdgeAgent(parts)
    started = datetime.now(UTC)
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        deadline = time.monotonic() + 30.0
        while not (parts.audio is not None and parts.audio.exhausted):
            assert time.monotonic() < deadline, "the replay did not finish"
            time.sleep(0.05)
        status = agent.local_status()
    finally:
        agent.request_stop()
        runner.join(timeout=30.0)
    events = events_in(tmp_path / "outbox.sqlite3")
    kinds = [event.kind for event in events]
    # The fan is one loud-sound event. The cry 18 dB under it, which the small model alone
    # missed, the cascade hears: crying in a noise bed is what stage two was trained for.
    assert sorted(kinds) == ["cry_ended", "cry_started", "loud_sound"], kinds
    [event] = [e for e in events if e.kind == "loud_sound"]
    assert event.episode_id == event.seq
    assert event.confidence == 1.0
    assert event.duration_s == 5.0
    assert event.sound_dbfs is not None
    assert -20.0 < event.sound_dbfs < -16.0
    # Replayed faster than real time, so the onset is within the run, about 5 s before "now".
    assert started.timestamp() - 6.0 < event.ts.timestamp() < time.time()
    last = max(events, key=lambda e: e.seq)
    assert status["last_event"] == {"kind": last.kind, "time": last.ts.isoformat()}
    faults = status["faults"]
    assert isinstance(faults, list)
    assert "microphone_dead" not in faults
