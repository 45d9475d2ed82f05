"""An agent whose cry model's stage two is damaged keeps detecting, and says so.

The agent is built by the composition root from a config, as ``nursery-edge run`` builds it,
with a copy of the shipped model whose YAMNet file is damaged or missing; it runs in-process
against a port nothing listens on, so what it publishes is taken where it hands it over.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.assembly import FAULT_DETAIL_MAX, build_agent, build_detector, degraded_fault_detail
from edge.checks.model import check_model
from edge.checks.result import Outcome
from edge.cli import status as status_cli
from edge.config import AgentConfig, parse_config
from edge.local_status import write_status
from models.contract import MessageKind, Status, decode_message, topic_for
from models.cry import CryDetector
from tests.harness.edge_parts import events_in
from tests.harness.network import free_port
from tests.unit.test_cry_cascade import artifacts_copy

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
CRY = AUDIO / "cry_donateacry.flac"  # a real cry (test split), 7 s
DEVICE = "unit-degraded"


def damaged_model(folder: Path) -> Path:
    """The shipped model with a YAMNet file that fails its checksum."""
    manifest = artifacts_copy(folder)
    backbone = folder / "yamnet_embedding.tflite"
    backbone.write_bytes(backbone.read_bytes()[:100_000])  # a truncated download
    return manifest


def agent_config(tmp_path: Path, manifest: Path | None) -> AgentConfig:
    detector: dict[str, Any] = {} if manifest is None else {"model_manifest": str(manifest)}
    return parse_config(
        {
            "device": {"id": DEVICE, "state_dir": str(tmp_path / "state")},
            "broker": {"host": "127.0.0.1", "port": free_port(), "password": "unused"},
            "sensor": {"kind": "none"},
            "audio": {"source": "file", "files": [str(CRY)], "realtime": False, "loop": False},
            "detector": detector,
        }
    )


def test_a_damaged_backbone_leaves_a_degraded_agent_that_still_raises_cry_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = agent_config(tmp_path, damaged_model(tmp_path / "model"))
    (tmp_path / "state").mkdir()
    agent = build_agent(config, {})
    published: list[object] = []
    monkeypatch.setattr(agent.connection, "publish_state", published.append)
    runner = threading.Thread(target=agent.run)
    runner.start()
    try:
        deadline = time.monotonic() + 30.0
        while not any(isinstance(p, Status) for p in published):
            assert time.monotonic() < deadline, "no status was published"
            time.sleep(0.05)
        # The replay ends in well under a second; the episode closes with the audio.
        while agent.local_status()["last_event"] is None or "cry_ended" not in str(
            agent.local_status()["last_event"]
        ):
            assert time.monotonic() < deadline, "the cry was not detected"
            time.sleep(0.05)
        status = agent.local_status()
    finally:
        agent.request_stop()
        runner.join(timeout=30.0)

    mode = status["detector_mode"]
    assert isinstance(mode, str)
    assert mode.startswith("degraded: sha256 mismatch for ")
    faults, details = status["faults"], status["fault_details"]
    assert isinstance(faults, list)
    assert isinstance(details, dict)
    assert faults == ["cry_model_degraded"]
    assert details["cry_model_degraded"].startswith(
        "stage two did not load, detecting with the small model alone: sha256 mismatch"
    )
    # What went to the broker is a valid status message carrying the fault.
    [sent] = [p for p in published if isinstance(p, Status)][:1]
    received = decode_message(topic_for(DEVICE, MessageKind.STATUS), sent.to_json())
    assert isinstance(received, Status)
    assert received.faults == ["cry_model_degraded"]
    assert received.fault_details == {"cry_model_degraded": details["cry_model_degraded"]}
    # Logged once at WARNING by the agent (the model library logs its own line too).
    agent_warnings = [
        r for r in caplog.records if r.name == "edge.daemon" and "cry model degraded" in r.message
    ]
    assert len(agent_warnings) == 1
    assert agent_warnings[0].levelname == "WARNING"

    events = events_in(tmp_path / "state" / "outbox.sqlite3", DEVICE)
    kinds = [event.kind for event in events]
    assert kinds == ["cry_started", "cry_ended"]


def test_a_missing_backbone_is_degraded_and_the_shipped_model_is_not(tmp_path: Path) -> None:
    manifest = artifacts_copy(tmp_path / "model")
    (tmp_path / "model" / "yamnet_embedding.tflite").unlink()
    detector, version = build_detector(agent_config(tmp_path, manifest))
    assert detector.mode == "degraded"
    assert version.startswith("nursery-cry-detector-")
    detail = degraded_fault_detail(detector)
    assert detail is not None
    assert "yamnet_embedding.tflite does not exist" in detail

    shipped, _ = build_detector(agent_config(tmp_path, None))
    assert shipped.mode == "cascade"
    assert degraded_fault_detail(shipped) is None


def test_a_long_reason_is_cut_to_the_contracts_bound(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 12)
    manifest = artifacts_copy(deep)
    (deep / "yamnet_embedding.tflite").write_bytes(b"not a model")
    detector = CryDetector.from_manifest(manifest)
    assert detector.degraded_reason is not None
    assert len(detector.degraded_reason) > FAULT_DETAIL_MAX
    detail = degraded_fault_detail(detector)
    assert detail is not None
    assert len(detail) == FAULT_DETAIL_MAX
    assert detail.endswith("...")
    # The contract accepts it (a longer one would make the whole status invalid).
    Status(
        device_id=DEVICE,
        seq=0,
        ts=datetime.now(UTC),
        state="online",
        faults=["cry_model_degraded"],
        fault_details={"cry_model_degraded": detail},
    )


def test_the_check_warns_about_a_degraded_model_and_shows_the_mode(tmp_path: Path) -> None:
    degraded = check_model(agent_config(tmp_path, damaged_model(tmp_path / "model")))
    assert degraded.outcome == Outcome.WARN
    assert "(degraded: sha256 mismatch for " in degraded.detail
    assert degraded.fix is not None
    assert "reinstall the package" in degraded.fix
    healthy = check_model(agent_config(tmp_path, None))
    assert healthy.outcome == Outcome.PASS
    assert "(cascade)" in healthy.detail


def test_the_check_shows_a_running_agents_degraded_mode(tmp_path: Path) -> None:
    config = agent_config(tmp_path, None)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    write_status(
        state_dir,
        {
            "pid": os.getpid(),
            "updated_at_epoch": time.time(),
            "detector_mode": "degraded: stage-two file /x/yamnet_embedding.tflite does not exist",
        },
    )
    result = check_model(config)
    assert result.outcome == Outcome.WARN
    assert result.detail.endswith(
        "; the running agent: degraded: stage-two file /x/yamnet_embedding.tflite does not exist"
    )


def test_nursery_edge_status_shows_the_detector_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_status(
        tmp_path,
        {
            "pid": os.getpid(),
            "updated_at_epoch": time.time(),
            "detector_mode": "degraded: sha256 mismatch for /m/yamnet_embedding.tflite",
            "faults": ["cry_model_degraded"],
            "fault_details": {"cry_model_degraded": "stage two did not load"},
        },
    )
    args = argparse.Namespace(state_dir=tmp_path, config=None, json=False)
    assert status_cli.on_state_dir("status", status_cli._show)(args) == 0
    out = capsys.readouterr().out
    assert "cry detector     degraded: sha256 mismatch for /m/yamnet_embedding.tflite" in out
    assert "cry_model_degraded (stage two did not load)" in out
