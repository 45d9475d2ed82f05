"""Real audio through the edge agent to the database: the device hears a cry and says so.

`nursery-edge run` replays a spoken word and then an infant cry (from the model's *test* split)
in real time as its microphone, with the simulated climate sensor, through the real Mosquitto
with its own credentials; the collector stores what arrives. The test checks the payloads
against the contract, the episode pairing in the database, and how soon the cry was reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from models.contract import Envelope, Event, MessageKind, Telemetry, decode_message, topic_for
from models.cry import CryDetector, load_audio, load_manifest
from models.cry.detector import default_model_manifest_path
from tests.harness.collector import CollectorProcess, register_device
from tests.harness.edge_agent import EdgeAgentRunner
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.services import BrokerAccount
from tests.harness.waiting import wait_until_async

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
SPEECH, CRY = AUDIO / "not_cry_speech_commands.flac", AUDIO / "cry_donateacry.flac"
# The model's median onset latency on the synthesized night is 1.53 s from the first audible cry
# (models/artifacts/MODEL_CARD.md); the target is 1.5 s. This test counts from the first
# sample of the cry file, whose first two seconds the shipped model scores 0.4-0.9, under its
# 0.969 onset threshold, so it measures about 3.3 s here (2.0 s with the previous model, which
# raised five times as many false alerts on the night); the bound leaves room for a loaded
# machine. The figure is printed and reported in docs/performance.md.
ONSET_BOUND_S = 4.5


def offline_cry_start_s() -> float:
    """Where the same detector, fed the same playlist offline, places the cry's start."""
    detector = CryDetector.from_manifest()
    events = detector.feed(load_audio(SPEECH, 16000)) + detector.feed(load_audio(CRY, 16000))
    return next(event.t for event in events if event.kind == "cry_started")


def received(probe: ProbeClient, arrivals: dict[int, float]) -> list[tuple[float, Envelope]]:
    """(arrival wall time, payload) of everything the probe got, decoded against the contract."""
    return [
        (arrivals[id(message)], decode_message(message.topic, bytes(message.payload)))
        for message in list(probe.messages)
    ]


def stored_events(database_url: str, device_id: str) -> list[tuple[int, str, int]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq, kind, episode_id FROM events WHERE device_id = %s ORDER BY seq",
            (device_id,),
        ).fetchall()
    return [(int(seq), str(kind), int(episode)) for seq, kind, episode in rows]


@pytest.mark.slow
async def test_a_replayed_cry_becomes_one_episode_in_the_database_within_the_bound(
    database_url: str,
    mosquitto: MosquittoBroker,
    start_collector: Callable[..., CollectorProcess],
    collector_account: BrokerAccount,
    tmp_path: Path,
) -> None:
    device_id, account = await register_device(database_url, mosquitto)
    start_collector(database_url, f"e2e-cry-{device_id}", "")
    probe = ProbeClient(
        f"probe-{device_id}", collector_account.username, collector_account.password
    )
    arrivals: dict[int, float] = {}  # id(message) -> wall-clock arrival

    def record(_client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        arrivals[id(message)] = time.time()
        probe.messages.append(message)

    probe.client.on_message = record
    probe.connect(mosquitto.host, mosquitto.port)
    for kind in (MessageKind.TELEMETRY, MessageKind.EVENT):
        probe.subscribe(topic_for(device_id, kind))
    runner = EdgeAgentRunner(tmp_path, mosquitto, account, audio_files=[SPEECH, CRY])
    agent = runner.start()
    try:

        def events() -> list[tuple[float, Event]]:
            return [(at, p) for at, p in received(probe, arrivals) if isinstance(p, Event)]

        await wait_until_async(lambda: len(events()) >= 2, timeout_s=60)
    finally:
        assert agent.stop_cleanly(), agent.output()
        probe.client.disconnect()
    (started_at, started), (_ended_at, ended) = events()[:2]
    assert (started.kind, ended.kind) == ("cry_started", "cry_ended"), agent.output()
    assert started.episode_id == started.seq
    assert ended.episode_id == started.seq
    # At least the onset threshold, which is what made it an episode.
    shipped = load_manifest(default_model_manifest_path()).hysteresis.on_threshold
    assert started.confidence >= shipped
    assert started.heard, "the cascade says what it heard"
    assert started.sound_dbfs is not None
    assert -60.0 < started.sound_dbfs < 0.0
    assert ended.duration_s is not None
    assert 2.0 < ended.duration_s < 7.5

    telemetry = [p for _at, p in received(probe, arrivals) if isinstance(p, Telemetry)]
    assert telemetry, agent.output()
    assert all(t.temperature_c is not None and t.humidity_pct is not None for t in telemetry)
    assert any(t.sound_dbfs_max is not None and t.sound_dbfs_max > -40.0 for t in telemetry)

    # Onset latency, conservatively from the first sample of the cry file: the event's ts is the
    # wall time of the detected start, which lies (offline start - speech length) into the cry.
    cry_file_offset_s = len(load_audio(SPEECH, 16000)) / 16000
    detected_into_cry_s = offline_cry_start_s() - cry_file_offset_s
    cry_began = started.ts.timestamp() - detected_into_cry_s
    latency_s = started_at - cry_began
    print(
        f"cry_started arrived {latency_s:.2f} s after the cry file began playing "
        f"({started_at - started.ts.timestamp():.2f} s after the detected start)"
    )
    assert 0.0 < latency_s <= ONSET_BOUND_S, agent.output()

    await wait_until_async(lambda: len(stored_events(database_url, device_id)) >= 2, timeout_s=30)
    assert stored_events(database_url, device_id) == [
        (started.seq, "cry_started", started.seq),
        (ended.seq, "cry_ended", started.seq),
    ]
