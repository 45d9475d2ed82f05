"""The edge agent's alarms parents can trust, as a real process against the real broker:
the loud-sound fallback publishes an event the cry model would not, and the microphone
self-check tells a dead input from a quiet room in the published status.

Every test watches the device's topics with a service account, as the collector does.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from models.contract import Event, MessageKind, Status, decode_message, topic_for
from tests.harness.edge_agent import EdgeAgentRunner
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.processes import ManagedProcess
from tests.harness.services import BrokerAccount, create_account
from tests.harness.waiting import wait_until

pytestmark = pytest.mark.slow

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
CRY_CLIP = AUDIO / "cry_donateacry.flac"  # 7 s, a real cry from the test split
FAN_CLIP = AUDIO / "fan_with_faint_cry.flac"  # 12 s: a loud fan, a cry 18 dB below it
QUIET_CLIP = AUDIO / "quiet_room.flac"  # 10 s of a quiet room, about -68 dBFS
RATE = 16_000
# Short windows so each test takes seconds, not the defaults' 30 s.
DEAD_AFTER_S = 3.0


class DeviceWatch:
    """A service account subscribed to one device's stream and status topics."""

    def __init__(self, mosquitto: MosquittoBroker, account: BrokerAccount, device_id: str):
        self.device_id = device_id
        self.probe = ProbeClient(f"watch-{device_id}", account.username, account.password)
        self.probe.connect(mosquitto.host, mosquitto.port)
        for kind in (MessageKind.EVENT, MessageKind.STATUS):
            self.probe.subscribe(topic_for(device_id, kind))

    def events(self) -> list[Event]:
        return [p for p in self._payloads(MessageKind.EVENT) if isinstance(p, Event)]

    def statuses(self) -> list[Status]:
        return [p for p in self._payloads(MessageKind.STATUS) if isinstance(p, Status)]

    def _payloads(self, kind: MessageKind) -> list[object]:
        topic = topic_for(self.device_id, kind)
        return [
            decode_message(m.topic, bytes(m.payload))
            for m in list(self.probe.messages)
            if m.topic == topic
        ]

    def close(self) -> None:
        self.probe.close()


@pytest.fixture
def device(mosquitto: MosquittoBroker) -> tuple[str, BrokerAccount]:
    device_id = f"selfcheck-{uuid.uuid4().hex[:10]}"
    return device_id, create_account(mosquitto, device_id)


@pytest.fixture
def watch(
    mosquitto: MosquittoBroker, collector_account: BrokerAccount, device: tuple[str, BrokerAccount]
) -> Iterator[DeviceWatch]:
    watcher = DeviceWatch(mosquitto, collector_account, device[0])
    yield watcher
    watcher.close()


def silence_file(path: Path, seconds: float) -> Path:
    """An input that delivers nothing but digital zeros (a muted or unplugged microphone)."""
    soundfile.write(str(path), np.zeros(round(seconds * RATE), dtype=np.float32), RATE)
    return path


def uptime(status: Status) -> float:
    assert status.uptime_s is not None
    return status.uptime_s


async def wait_for(condition: object, timeout_s: float) -> None:
    assert callable(condition)
    await asyncio.to_thread(wait_until, condition, timeout_s)


async def test_a_loud_fan_hiding_a_faint_cry_raises_one_loud_sound_event_and_the_cry(
    mosquitto: MosquittoBroker,
    device: tuple[str, BrokerAccount],
    watch: DeviceWatch,
    tmp_path: Path,
) -> None:
    runner = EdgeAgentRunner(tmp_path, mosquitto, device[1], audio_files=[FAN_CLIP])
    agent: ManagedProcess = runner.start()
    try:
        await wait_for(lambda: any(e.kind == "loud_sound" for e in watch.events()), 25.0)
        first_at = time.time()
        # The rest of the clip (7 s) plays: the fan stays loud, and must not alarm again.
        await asyncio.sleep(8.0)
        assert agent.process.poll() is None, agent.output()
        assert "audio source finished" in agent.output()
    finally:
        assert agent.stop_cleanly(), agent.output()
    events = watch.events()
    # The fan: one loud-sound event. The cry 18 dB under it, which the small model alone
    # missed, the cascade hears (crying in a noise bed is what stage two was trained for).
    kinds = sorted(event.kind for event in events)
    assert kinds == ["cry_ended", "cry_started", "loud_sound"], agent.output()
    [event] = [e for e in events if e.kind == "loud_sound"]
    assert event.episode_id == event.seq
    assert event.confidence == 1.0
    assert event.duration_s == 5.0  # the default loud_sound_s
    assert event.sound_dbfs is not None
    assert -20.0 < event.sound_dbfs < -16.0  # the fan's level
    # Stamped with the onset (the fan's start), about loud_sound_s before it was published.
    assert first_at - 8.0 < event.ts.timestamp() < first_at - 4.0


async def test_an_all_zero_input_is_published_as_a_dead_microphone_within_the_window(
    mosquitto: MosquittoBroker,
    device: tuple[str, BrokerAccount],
    watch: DeviceWatch,
    tmp_path: Path,
) -> None:
    zeros = silence_file(tmp_path / "zeros.flac", 20.0)
    runner = EdgeAgentRunner(
        tmp_path,
        mosquitto,
        device[1],
        audio_files=[zeros],
        audio_options={"dead_after_s": DEAD_AFTER_S},
        # The heartbeat is a minute away: only the status sent on the change can arrive in time.
        settings={"status_interval_s": 60.0},
    )
    agent = runner.start()

    def dead() -> list[Status]:
        return [s for s in watch.statuses() if "microphone_dead" in s.faults]

    try:
        await wait_for(lambda: watch.statuses(), 20.0)
        await wait_for(dead, DEAD_AFTER_S + 5.0)
    finally:
        assert agent.stop_cleanly(), agent.output()
    status = dead()[0]
    assert uptime(status) < DEAD_AFTER_S + 4.0, "reported long after the window filled"
    assert status.fault_details is not None
    assert status.fault_details["microphone_dead"].startswith(
        f"every sample was digital zero for {DEAD_AFTER_S:.0f} s"
    )
    assert "microphone" not in status.faults  # audio does arrive: it is the content that is dead


async def test_a_quiet_room_is_not_a_dead_microphone_but_the_zeros_after_it_are(
    mosquitto: MosquittoBroker,
    device: tuple[str, BrokerAccount],
    watch: DeviceWatch,
    tmp_path: Path,
) -> None:
    zeros = silence_file(tmp_path / "zeros.flac", 8.0)
    runner = EdgeAgentRunner(
        tmp_path,
        mosquitto,
        device[1],
        audio_files=[QUIET_CLIP, zeros],  # 10 s of a quiet room, then a dead input
        audio_options={"dead_after_s": DEAD_AFTER_S},
        settings={"status_interval_s": 5.0},
    )
    agent = runner.start()
    try:
        await wait_for(lambda: any(uptime(s) >= 9.0 for s in watch.statuses()), 25.0)
        quiet_statuses = [s for s in watch.statuses() if s.state == "online"]
        await wait_for(lambda: any("microphone_dead" in s.faults for s in watch.statuses()), 15.0)
    finally:
        assert agent.stop_cleanly(), agent.output()
    # Heartbeats while the quiet room played, its window long full: not one says "dead".
    heard = [s for s in quiet_statuses if DEAD_AFTER_S + 1.0 <= uptime(s) <= 10.0]
    assert heard, [uptime(s) for s in quiet_statuses]
    assert all("microphone_dead" not in s.faults for s in quiet_statuses), agent.output()
    flagged = next(s for s in watch.statuses() if "microphone_dead" in s.faults)
    assert uptime(flagged) >= 10.0 + DEAD_AFTER_S - 0.5  # only once the zeros filled a window


async def test_a_damaged_cry_model_is_published_as_a_fault_and_the_cry_still_alerts(
    mosquitto: MosquittoBroker,
    device: tuple[str, BrokerAccount],
    watch: DeviceWatch,
    tmp_path: Path,
) -> None:
    from tests.unit.test_cry_cascade import artifacts_copy

    manifest = artifacts_copy(tmp_path / "model")
    (tmp_path / "model" / "yamnet_embedding.tflite").write_bytes(b"\x00" * 4096)
    runner = EdgeAgentRunner(
        tmp_path,
        mosquitto,
        device[1],
        audio_files=[CRY_CLIP],
        detector={"model_manifest": manifest},
    )
    agent = runner.start()

    def degraded() -> list[Status]:
        return [s for s in watch.statuses() if "cry_model_degraded" in s.faults]

    try:
        await wait_for(degraded, 20.0)
        await wait_for(lambda: [e for e in watch.events() if e.kind == "cry_ended"], 25.0)
        local = runner.wait_for_status(lambda d: d.get("detector_mode") is not None)
    finally:
        assert agent.stop_cleanly(), agent.output()
    status = degraded()[0]
    assert status.fault_details is not None
    detail = status.fault_details["cry_model_degraded"]
    assert detail.startswith("stage two did not load, detecting with the small model alone: ")
    assert "sha256 mismatch" in detail
    assert [e.kind for e in watch.events()] == ["cry_started", "cry_ended"], agent.output()
    assert str(local["detector_mode"]).startswith("degraded: sha256 mismatch for ")
    assert agent.output().count("cry model degraded, still listening") == 1
