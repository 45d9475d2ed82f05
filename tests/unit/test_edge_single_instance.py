"""One agent per state folder: ``run`` and ``simulate`` refuse to start while another process
holds the folder's lock, and the lock is free again once its holder lets go. Across processes
in ``tests/integration/test_edge_single_agent.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.cli import main
from edge.single_instance import LOCK_FILE, AgentAlreadyRunningError, hold_agent_lock


def test_the_lock_is_held_once_and_names_its_holder(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with hold_agent_lock(state_dir):
        assert (state_dir / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(AgentAlreadyRunningError, match=rf"\(pid {os.getpid()}\)"):
            hold_agent_lock(state_dir)
    with hold_agent_lock(state_dir):  # released: the next agent may start
        pass


def test_run_refuses_a_second_agent_for_the_same_state_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[device]\nid = "nursery-0001"\nstate_dir = "{tmp_path / "state"}"\n'
        '[broker]\nhost = "127.0.0.1"\nport = 1\n'
        '[sensor]\nkind = "simulated"\n[audio]\nsource = "none"\n'
    )
    config.chmod(0o600)
    with hold_agent_lock(tmp_path / "state"):
        assert main(["run", "--config", str(config)]) == 1
    error = capsys.readouterr().err
    assert f"an agent already runs with the state folder {tmp_path / 'state'}" in error
    assert "systemctl stop nursery-edge" in error


def test_simulate_refuses_a_second_agent_for_the_same_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with hold_agent_lock(tmp_path / "nursery-sim-1"):
        status = main(
            [
                "simulate",
                "--device-id",
                "nursery-sim-1",
                "--port",
                "1",
                "--state-dir",
                str(tmp_path),
            ]
        )
    assert status == 1
    assert "an agent already runs with the state folder" in capsys.readouterr().err
