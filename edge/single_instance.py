"""One agent per state folder, held by an advisory lock for the agent's lifetime.

A second ``nursery-edge run`` with the same configuration (started by hand while the service
runs) would share the outbox and log in with the same broker account; the broker gives every
connection its account name as client id, so the two would take each other's session in turns,
each reconnect knocking the other offline. The kernel drops the lock when the process ends,
however it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO

LOCK_FILE = "agent.lock"


class AgentAlreadyRunningError(Exception):
    pass


def hold_agent_lock(state_dir: Path) -> TextIO:
    """The open lock file (keep it open while the agent runs); AgentAlreadyRunningError when
    another process holds it. OSError propagates (the state folder cannot be written)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = (state_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise AgentAlreadyRunningError(
            f"an agent already runs with the state folder {state_dir} (pid {holder}); a second "
            "one would take over its broker session in turns: stop it first (`sudo systemctl "
            "stop nursery-edge`; `nursery-edge status` shows it)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
