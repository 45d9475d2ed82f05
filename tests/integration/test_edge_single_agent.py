"""One agent per device: a second ``nursery-edge run`` with the same configuration (started by
hand while the service runs) refuses to start, and the running agent keeps its broker session.
Two agents with one account would take each other's session in turns (the broker's client id is
the account name) and share one outbox."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

from tests.harness.edge_agent import EdgeAgentRunner, session_takeovers
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.processes import console_script
from tests.harness.services import create_account

TIMEOUT_S = 30


def test_a_second_agent_for_the_same_device_refuses_to_start(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    account = create_account(mosquitto, f"single-{uuid.uuid4().hex[:8]}")
    runner = EdgeAgentRunner(tmp_path, mosquitto, account)
    agent = runner.start()
    try:
        before = runner.wait_for_status(lambda status: bool(status["connected"]))
        second = subprocess.run(
            [console_script("nursery-edge"), "run", "--config", str(runner.config_path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        tried_at = time.time()
        after = runner.wait_for_status(lambda status: True, after=tried_at)
    finally:
        assert agent.stop_cleanly(), agent.output()
    assert second.returncode == 1, second.stderr
    assert (
        f"an agent already runs with the state folder {runner.state_dir} "
        f"(pid {agent.process.pid})" in second.stderr
    )
    assert "systemctl stop nursery-edge" in second.stderr
    assert after["connected"]
    assert after["sessions"] == before["sessions"] == 1, "the first agent had to reconnect"
    assert session_takeovers(mosquitto, account.username) == 0
