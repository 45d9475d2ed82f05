"""The commands that run an agent (`run`, `simulate`) run it as the device's only agent."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from edge.single_instance import AgentAlreadyRunningError, hold_agent_lock


def run_as_the_only_agent(command: str, state_dir: Path, agent: Callable[[], int]) -> int:
    """``agent()``'s exit status, run while holding the state folder's agent lock; 1 with the
    reason on stderr when another agent holds it or the folder cannot be used."""
    try:
        lock = hold_agent_lock(state_dir)
    except AgentAlreadyRunningError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{command}: cannot use the state folder: {exc}", file=sys.stderr)
        return 1
    with lock:
        return agent()
