"""What the running daemon tells local commands: a status file and a request folder.

``nursery-edge status`` and ``nursery-edge test-alert`` run as separate processes on the device
(over SSH). The daemon writes ``<state_dir>/status.json`` every few seconds (atomically, without
fsync: it is rewritten constantly and losing it on a power cut costs nothing) and looks for
request files in ``<state_dir>/requests/`` every second. No socket, no extra port, and it
works with the state folder's own permissions.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
REQUESTS_DIR = "requests"
TEST_ALERT_REQUEST = "test-alert"
STATUS_WRITE_INTERVAL_S = 5.0
REQUEST_POLL_INTERVAL_S = 1.0
# A status older than this means the daemon is not running (or is stuck).
STALE_AFTER_S = 3 * STATUS_WRITE_INTERVAL_S
CLOCK_SLACK_S = 2.0


def write_status(state_dir: Path, document: dict[str, Any]) -> None:
    path = state_dir / STATUS_FILE
    temporary = path.with_name(f".{STATUS_FILE}.{os.getpid()}")
    temporary.write_text(json.dumps(document, indent=2, default=str))
    os.replace(temporary, path)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The daemon's last status, None when there is none; PermissionError propagates (the state
    folder is the daemon's, mode 0700: "not running" would be the wrong answer)."""
    try:
        document: dict[str, Any] = json.loads((state_dir / STATUS_FILE).read_text())
    except PermissionError:
        raise
    except (OSError, ValueError):
        return None
    return document


def daemon_is_running(document: dict[str, Any] | None, now: float | None = None) -> bool:
    """The status was written recently by a process that still exists and has not written its
    last status on the way out (``stopped_at``)."""
    if document is None or document.get("stopped_at"):
        return False
    now = time.time() if now is None else now
    age = now - float(document.get("updated_at_epoch", 0.0))
    # A status from the future is not fresh either: a Pi without a clock battery can boot with
    # its clock behind the last status written, and the old pid may belong to someone else now.
    if not -CLOCK_SLACK_S <= age <= STALE_AFTER_S:
        return False
    try:
        os.kill(int(document["pid"]), 0)
    except (KeyError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # exists, owned by another user (the daemon runs as root)
    return True


def request_test_alert(state_dir: Path, request_id: str) -> None:
    folder = state_dir / REQUESTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{TEST_ALERT_REQUEST}.{request_id}"
    temporary.write_text(request_id)
    # Readable by the daemon's user whatever the caller's umask (root's may be 077).
    temporary.chmod(0o644)
    os.replace(temporary, folder / TEST_ALERT_REQUEST)


def take_test_alert_request(state_dir: Path) -> str | None:
    """The pending request's id, removing it; None when there is none."""
    path = state_dir / REQUESTS_DIR / TEST_ALERT_REQUEST
    try:
        request_id = path.read_text().strip()
        path.unlink()
    except FileNotFoundError:
        return None
    return request_id or "unnamed"
