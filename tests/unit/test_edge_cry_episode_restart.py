"""A cry episode cut off by a power cut, and the room on cry events, with simulated hardware.

The outbox remembers the open episode in its SQLite file; the agent started on that file ends
the episode at the last time the device knew it was alive, with ``end_reason`` saying why.
Nothing here listens on the broker port: what the agent would publish stays in the outbox.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud.alerting import DeviceRules, evaluate_batch
from cloud.collector.decode import to_ingest_item
from cloud.rules import NurserySettings
from cloud.storage.records import EventRow
from edge.audio import FileReplaySource
from edge.daemon import EdgeAgent
from edge.detection import LiveDetector, SoundLevelMeter
from edge.publish.outbox import Outbox
from edge.sensors import ClimateSampler, SimulatedClimateSensor
from edge.sensors.simulated import SimulatedClimate
from models.contract import DeviceSettings, Event, MessageKind, topic_for
from models.cry import CryDetector
from tests.harness.edge_parts import DEVICE, agent_parts, events_in

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
T0 = datetime(2026, 11, 23, 2, 10, 3, 250_000, tzinfo=UTC)


def cry_started(seq: int) -> Event:
    return Event(
        device_id=DEVICE, seq=seq, ts=T0, kind="cry_started", episode_id=seq,
        confidence=0.97, sound_dbfs=-28.5,
    )  # fmt: skip


def run_briefly(agent: EdgeAgent, seconds: float = 0.5) -> None:
    runner = threading.Thread(target=agent.run)
    runner.start()
    time.sleep(seconds)
    agent.request_stop()
    runner.join(timeout=30.0)
    assert not runner.is_alive()


def test_the_open_episode_survives_a_power_cut_and_is_forgotten_with_its_end(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.append(cry_started, episode="open")
    outbox.note_alive(T0 + timedelta(seconds=6))
    outbox.note_alive(T0 + timedelta(seconds=4))  # a clock stepping back never moves it back
    # No close(): the process is gone. What was committed is on disk.
    reopened = Outbox(path)
    episode = reopened.open_episode()
    assert episode is not None
    assert (episode.episode_id, episode.started_at, episode.confidence) == (0, T0, 0.97)
    assert episode.alive_at == T0 + timedelta(seconds=6)
    assert episode.sound_dbfs == -28.5
    reopened.append(
        lambda seq: Event(
            device_id=DEVICE, seq=seq, ts=T0, kind="cry_ended", episode_id=0, confidence=0.9
        ),
        episode="close",
    )
    assert reopened.open_episode() is None
    reopened.close()
    outbox.close()


def test_an_episode_left_open_is_ended_on_the_next_start_at_the_last_sign_of_life(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    previous = Outbox(path)  # the run that lost power mid-cry
    previous.append(cry_started, episode="open")
    previous.note_alive(T0 + timedelta(seconds=42.3))
    previous.close()

    run_briefly(EdgeAgent(agent_parts(tmp_path, outbox=Outbox(path))))

    started, ended = events_in(path)
    assert ended.kind == "cry_ended"
    assert ended.episode_id == started.seq == 0
    assert ended.seq == 1
    assert ended.end_reason == "device_restarted"
    assert ended.ts == T0 + timedelta(seconds=42.3)
    assert ended.duration_s == 42.3
    assert (ended.confidence, ended.sound_dbfs) == (0.97, -28.5)
    assert started.end_reason is None

    # Closed once: the next start finds nothing open and adds nothing.
    run_briefly(EdgeAgent(agent_parts(tmp_path, outbox=Outbox(path))))
    assert [e.seq for e in events_in(path)] == [0, 1]


def test_a_cry_heard_while_running_is_journalled_and_a_clean_end_clears_it(
    tmp_path: Path,
) -> None:
    """The real model on a real cry: the start opens the journal, the detector's end closes it,
    and the events carry the room the sampler measured."""
    detector = CryDetector.from_manifest(None)
    meter = SoundLevelMeter(detector.sample_rate)
    sampler = ClimateSampler(
        SimulatedClimateSensor(SimulatedClimate(), time.monotonic), time.monotonic
    )
    sampler.sample()  # a reading exists before the cry (the sensor thread also keeps sampling)
    room = sampler.current()
    assert room is not None
    parts = agent_parts(
        tmp_path,
        sampler=sampler,
        sensor_interval_s=60.0,
        audio=FileReplaySource([AUDIO / "cry_donateacry.flac"], realtime=False),
        live=LiveDetector(detector, DeviceSettings(), meter),
        meter=meter,
    )
    agent = EdgeAgent(parts)
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        deadline = time.monotonic() + 30.0
        while not (parts.audio is not None and parts.audio.exhausted):
            assert time.monotonic() < deadline, "the replay did not finish"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        agent.request_stop()
        runner.join(timeout=30.0)
    started, ended = events_in(tmp_path / "outbox.sqlite3")
    assert (started.kind, ended.kind) == ("cry_started", "cry_ended")
    assert ended.end_reason is None  # heard ending, not cut off
    for event in (started, ended):
        assert event.temperature_c == pytest.approx(room.temperature_c, abs=0.5)
        assert event.humidity_pct == pytest.approx(room.humidity_pct, abs=2.0)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    try:
        assert outbox.open_episode() is None
    finally:
        outbox.close()


def test_without_a_recent_reading_the_event_has_no_room(tmp_path: Path) -> None:
    now = [0.0]
    sampler = ClimateSampler(
        SimulatedClimateSensor(SimulatedClimate(), lambda: now[0]), lambda: now[0]
    )
    sampler.sample()
    now[0] = 600.0  # ten minutes later, no read since: the reading is too old to show
    agent = EdgeAgent(agent_parts(tmp_path, sampler=sampler))
    assert agent._room() == (None, None)


def test_the_cry_alert_carries_the_room_the_device_measured() -> None:
    received_at = T0 + timedelta(seconds=1)
    raw = Event(
        device_id=DEVICE, seq=7, ts=T0, kind="cry_started", episode_id=7, confidence=0.97,
        temperature_c=21.4, humidity_pct=48.5,
    ).to_json()  # fmt: skip
    row = to_ingest_item(topic_for(DEVICE, MessageKind.EVENT), raw, received_at)
    assert isinstance(row, EventRow)
    rules = {DEVICE: DeviceRules(NurserySettings())}
    [alert] = evaluate_batch(rules, [], [row], [])
    assert alert.kind == "CRY_DETECTED"
    assert alert.details == {
        "confidence": 0.97, "temperature": 21.4, "humidity": 48.5, "heard": [], "episode_id": 7,
    }  # fmt: skip
