"""``nursery-edge status``: what it says about a stopped agent, and how it shows the levels.

Whether the agent runs is read from something real: the status file's age, whether its pid
exists, and the last status the agent writes on its way out.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main
from edge.daemon import EdgeAgent
from edge.local_status import read_status, write_status
from tests.harness.edge_parts import agent_parts


def document(**changes: Any) -> dict[str, Any]:
    now = time.time()
    base: dict[str, Any] = {
        "pid": os.getpid(),
        "device_id": "nursery-0001",
        "updated_at": datetime.fromtimestamp(now, UTC).isoformat(),
        "updated_at_epoch": now,
        "started_at": "2026-11-23T01:00:00+00:00",
        "broker": "broker.example:8883",
        "connected": True,
        "last_reading": {
            "seq": 12,
            "time": datetime.fromtimestamp(now, UTC).isoformat(),
            "temperature_c": 21.437499999,
            "humidity_pct": 48.45000001,
            "sound_dbfs_avg": -62.34567891234,
        },
        "faults": [],
    }
    return {**base, **changes}


def show(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["status", "--state-dir", str(state_dir)])
    return code, capsys.readouterr().out


def test_a_running_agent_is_connected_with_levels_to_one_decimal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_status(tmp_path, document())
    code, out = show(tmp_path, capsys)
    assert code == 0
    assert "broker.example:8883 - connected" in out
    assert ": 21.4 °C, 48.5 %RH, -62.3 dBFS" in out
    assert "-62.345" not in out


def test_an_agent_killed_long_ago_is_not_shown_as_connected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    an_hour_ago = time.time() - 3600
    write_status(tmp_path, document(updated_at_epoch=an_hour_ago))
    code, out = show(tmp_path, capsys)
    assert code == 3
    assert out.startswith("not running: last status at ")
    assert " - connected" not in out
    assert "broker.example:8883 - not connected: the agent is stopped" in out
    assert "(was pid " in out


def test_missing_levels_are_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reading = {"seq": 1, "time": datetime.now(UTC).isoformat(), "temperature_c": None,
               "humidity_pct": 50, "sound_dbfs_avg": None}  # fmt: skip
    write_status(tmp_path, document(last_reading=reading))
    _code, out = show(tmp_path, capsys)
    assert ": no °C value, 50.0 %RH, no dBFS value" in out


def test_an_agent_that_just_stopped_cleanly_says_so_though_its_status_is_fresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the pid (this test's) exists and the status is seconds old - only the
    # agent's last word tells that it has stopped.
    agent = EdgeAgent(agent_parts(tmp_path, state_dir=tmp_path))
    runner = threading.Thread(target=agent.run)
    runner.start()
    deadline = time.monotonic() + 10.0
    while read_status(tmp_path) is None:
        assert time.monotonic() < deadline, "the agent wrote no status"
        time.sleep(0.05)
    code, out = show(tmp_path, capsys)
    assert code == 0
    assert "127.0.0.1:9 - NOT connected" in out  # nothing listens on the discard port
    agent.request_stop()
    runner.join(timeout=30.0)

    code, out = show(tmp_path, capsys)
    assert code == 3
    assert out.startswith("stopped: the agent stopped at ")
    assert "127.0.0.1:9 - not connected: the agent is stopped" in out
    last = read_status(tmp_path)
    assert last is not None
    assert last["connected"] is False
