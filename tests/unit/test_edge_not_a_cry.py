"""The agent and the home's "not a cry" list: events with ``ignored``, the status, the CLI, and
the same real sound alerted once, marked, then ignored (the shipped model, real audio)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.audio import FileReplaySource
from edge.cli import main
from edge.daemon import EdgeAgent
from edge.detection import LiveDetector, SoundLevelMeter, TimedCryEvent
from edge.local_status import write_status
from edge.sounds_to_ignore import SoundsToIgnore
from models.contract import (
    DeviceSettings,
    Event,
    IgnoredBecause,
    IgnoreList,
    MessageKind,
    decode_message,
    topic_for,
)
from models.cry import CryDetector
from models.cry.ignore import IgnoreRule
from tests.harness.edge_parts import DEVICE, agent_parts, events_in
from tests.harness.sounds import ended, ignore_list, onset
from tests.harness.sqlite import WriteLock

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
T0 = datetime(2026, 12, 7, 2, 10, 3, tzinfo=UTC)
MARKED_AT = datetime(2026, 12, 7, 3, 14, 58, tzinfo=UTC)


@pytest.fixture(scope="module")
def detector() -> CryDetector:
    """The shipped model with its stage two (YAMNet + head), as a device runs it."""
    loaded = CryDetector.from_manifest(None)
    assert loaded.mode == "cascade"
    assert loaded.fingerprint_model is not None
    return loaded


@pytest.fixture
def agent(tmp_path: Path, detector: CryDetector) -> Iterator[EdgeAgent]:
    detector.reset()
    live = LiveDetector(detector, DeviceSettings(), SoundLevelMeter(detector.sample_rate))
    built = EdgeAgent(
        agent_parts(tmp_path, live=live, sound_memory_path=tmp_path / "sound-memory.sqlite3")
    )
    yield built
    built._sounds.close()


def marking(revision: int, *episode_ids: int) -> IgnoreList:
    return ignore_list(DEVICE, revision, *episode_ids, marked_at=MARKED_AT)


def cry(kind: str, seed: int, confidence: float = 0.5) -> TimedCryEvent:
    event = onset(seed, confidence) if kind == "cry_started" else ended(seed, confidence)
    return TimedCryEvent(event, T0)


def test_an_ignored_start_carries_why_and_decodes_as_the_contract_says(
    agent: EdgeAgent,
) -> None:
    because = IgnoredBecause(like_episode_id=1203, marked_at=MARKED_AT, similarity=0.93)
    event = agent._event(cry("cry_started", 1), None, 1300, ignored=because)
    document = json.loads(event.to_json())
    assert document["ignored"] == {
        "like_episode_id": 1203,
        "marked_at": "2026-12-07T03:14:58Z",
        "similarity": 0.93,
    }
    assert decode_message(topic_for(DEVICE, MessageKind.EVENT), event.to_json()) == event
    plain = agent._event(cry("cry_started", 1), None, 1301)
    assert "ignored" not in json.loads(plain.to_json())


def test_the_agent_remembers_episodes_and_ignores_a_marked_sound_but_still_sends_it(
    agent: EdgeAgent, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent._emit([cry("cry_started", 1), cry("cry_ended", 1)])
    agent._emit([cry("cry_started", 2), cry("cry_ended", 2)])
    first, _end, second, _ = events_in(tmp_path / "outbox.sqlite3")
    assert first.ignored is None
    assert second.ignored is None

    agent._sounds.handle(marking(1, first.episode_id, 4242))
    # A status goes out at once, and every status carries the list.
    status = agent._reporter.status("online")
    assert status.ignore_list_size == 1
    assert status.ignore_list_revision == 1
    assert status.ignore_list_unknown == [4242]
    assert status.ignore_list_changed_at is not None
    queued = agent.connection._latest_state[MessageKind.STATUS]
    assert getattr(queued, "ignore_list_revision", None) == 1

    with caplog.at_level(logging.INFO, logger="edge.sounds_to_ignore"):
        agent._emit([cry("cry_started", 1), cry("cry_ended", 1)])
        agent._emit([cry("cry_started", 2)])
        agent._emit([cry("cry_started", 1, confidence=0.99)])  # too sure to be silenced
    events = events_in(tmp_path / "outbox.sqlite3")
    ignored, ended, other, sure = events[4], events[5], events[6], events[7]
    assert ignored.kind == "cry_started"
    assert ignored.ignored == IgnoredBecause(
        like_episode_id=first.episode_id, marked_at=MARKED_AT, similarity=1.0
    )
    assert (ended.kind, ended.episode_id, ended.ignored) == ("cry_ended", ignored.seq, None)
    assert other.ignored is None
    assert sure.ignored is None
    assert (
        f"cry-like sound not alerted: like episode {first.episode_id} marked on 2026-12-07"
        in caplog.text
    )

    local = agent.local_status()
    assert local["ignore_list"] == {
        "size": 1,
        "revision": 1,
        "changed_at": status.ignore_list_changed_at.isoformat(),
        "unknown": [4242],
        "problem": None,
    }


def test_the_status_command_shows_the_list(
    agent: EdgeAgent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent._emit([cry("cry_started", 1)])
    agent._sounds.handle(marking(3, 0, 77))
    write_status(tmp_path, agent.local_status())
    main(["status", "--state-dir", str(tmp_path)])
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("ignored sounds"))
    assert "1 in use, revision 3, changed at " in line
    assert "no fingerprint for episode(s) 77" in line


def test_an_undo_the_device_cannot_save_still_applies_and_raises_the_fault(
    agent: EdgeAgent, tmp_path: Path
) -> None:
    agent._emit([cry("cry_started", 1), cry("cry_ended", 1)])
    [marked, _] = events_in(tmp_path / "outbox.sqlite3")
    agent._sounds.handle(marking(1, marked.episode_id))
    lock = WriteLock(tmp_path / "sound-memory.sqlite3")
    try:
        agent._sounds.handle(marking(2))  # as the MQTT thread does: must not raise
        status = agent._reporter.status("online")
        assert (status.ignore_list_revision, status.ignore_list_size) == (2, 0)
        assert "sound_memory" in status.faults
        assert status.fault_details is not None
        assert "locked" in status.fault_details["sound_memory"]
    finally:
        lock.release()
    agent._emit([cry("cry_started", 1), cry("cry_ended", 1)])
    again = events_in(tmp_path / "outbox.sqlite3")[2]
    assert again.ignored is None  # undone
    assert "sound_memory" not in agent._reporter.status("online").faults  # saved now


def replay(agent: EdgeAgent, audio: FileReplaySource) -> None:
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        deadline = time.monotonic() + 60.0
        while not audio.exhausted:
            assert time.monotonic() < deadline, "the replay did not finish"
            time.sleep(0.05)
        # The audio thread closes the episode (live.finish()) as the source runs out.
        while agent._episode_id is not None:
            assert time.monotonic() < deadline, "the episode did not end"
            time.sleep(0.05)
    finally:
        agent.request_stop()
        runner.join(timeout=30.0)


def test_a_real_sound_alerts_is_marked_then_is_ignored_the_next_time_after_a_restart(
    tmp_path: Path, detector: CryDetector
) -> None:
    """The shipped model hears the fan clip's faint cry (a stand-in for the household sound a
    parent marks); once marked, the same sound replayed is sent as ignored, and a baby's cry
    after it (unlike it: 0.23) still alerts. Both onsets are below the must-alert confidence,
    so it is the similarity that decides."""
    clip = AUDIO / "fan_with_faint_cry.flac"
    memory = tmp_path / "sound-memory.sqlite3"

    def run_once(*clips: Path) -> list[Event]:
        detector.reset()
        # More silence between clips than the cry cooldown: each clip is an episode of its own.
        audio = FileReplaySource(list(clips), realtime=False, loop=False, gap_s=12.0)
        live = LiveDetector(detector, DeviceSettings(), SoundLevelMeter(detector.sample_rate))
        agent = EdgeAgent(agent_parts(tmp_path, audio=audio, live=live, sound_memory_path=memory))
        replay(agent, audio)
        return [e for e in events_in(tmp_path / "outbox.sqlite3") if e.kind == "cry_started"]

    [alerted] = run_once(clip)
    assert alerted.ignored is None
    assert alerted.confidence < IgnoreRule().must_alert_confidence
    # The parent marks the alert and the cloud sends the list while the device is off; it
    # applies it (as its MQTT thread does) and keeps it.
    sounds = SoundsToIgnore.open(memory, detector.fingerprint_model, lambda: None)
    marked_at = alerted.ts + timedelta(seconds=30)  # a mark comes after its alert
    sounds.handle(ignore_list(DEVICE, 1, alerted.episode_id, marked_at=marked_at))
    assert sounds.status().size == 1
    sounds.close()
    # A new agent on the same state folder (a restart) hears the same sound, then a cry.
    _, again, baby = run_once(clip, AUDIO / "cry_donateacry.flac")
    assert again.ignored is not None, again
    assert again.ignored.like_episode_id == alerted.episode_id
    assert again.ignored.marked_at == marked_at
    assert again.ignored.similarity >= IgnoreRule().similarity
    assert again.ts - alerted.ts < timedelta(minutes=5)
    assert baby.ignored is None  # a different sound still alerts
