"""The broker check while the agent runs: judge from the agent's own connection, never log in.

The broker gives every connection its account name as client id (``use_username_as_clientid``),
so a second login with the device's account would take over the running agent's session, and
the agent's reconnect would then take it back. The agent's status file (``edge.local_status``)
already says whether it is connected and, when not, its last connection error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edge.checks.broker_fixes import credentials_fix, tls_fix, unreachable_fix
from edge.checks.result import CheckResult, Outcome
from edge.local_status import STATUS_WRITE_INTERVAL_S, daemon_is_running, read_status
from edge.publish.mqtt_client import BrokerSettings

NAME = "broker"
# A disconnected status may be a reconnect in progress: wait for one more write before judging.
FRESH_STATUS_WAIT_S = STATUS_WRITE_INTERVAL_S + 1.0
_POLL_S = 0.25
_STOP_AND_RETRY = (
    "its log: `journalctl -u nursery-edge`; for a login test that tells the causes apart, stop "
    "the agent (`sudo systemctl stop nursery-edge`), run the check again, then start it"
)


def running_agent_status(state_dir: Path) -> dict[str, Any] | None:
    """The running agent's status, None when no agent runs; PermissionError propagates.

    When the status says "not connected", waits for the agent's next write (a reconnect may be
    under way) and returns that one.
    """
    document = read_status(state_dir)
    if not daemon_is_running(document):
        return None
    assert document is not None  # daemon_is_running says so; keeps the type checker informed
    if document.get("connected"):
        return document
    written = document.get("updated_at_epoch")
    deadline = time.monotonic() + FRESH_STATUS_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(_POLL_S)
        latest = read_status(state_dir)
        if latest is not None and latest.get("updated_at_epoch") != written:
            return latest if daemon_is_running(latest) else None
    return document


def judge_running_agent(document: dict[str, Any], settings: BrokerSettings) -> CheckResult:
    """Pure: what the running agent's status says about the device's broker login."""
    agent = f"the running agent (pid {document.get('pid')})"
    configured = f"{settings.host}:{settings.port}"
    where = str(document.get("broker") or configured)
    # An older agent does not write its user name; it used the configured one.
    user = str(document.get("broker_username") or settings.username)
    elsewhere = where != configured or user != settings.username
    restart = (
        f"the config says {configured} as {settings.username}: restart the agent to use it "
        "(`sudo systemctl restart nursery-edge`), then run the check again"
    )
    if document.get("connected"):
        detail = f"{agent} is connected to {where} as {user}"
        if elsewhere:
            return CheckResult(NAME, Outcome.WARN, f"{detail}, not as configured", restart)
        return CheckResult(NAME, Outcome.PASS, detail)
    error = document.get("last_error")
    reason = str(error) if error else "no error recorded (it lost the connection or is starting)"
    detail = f"{agent} is not connected to {where} as {user}: {reason}"
    fix = restart if elsewhere else f"{_fix_for(reason, settings)}\n{_STOP_AND_RETRY}"
    return CheckResult(NAME, Outcome.FAIL, detail, fix)


def _fix_for(error: str, settings: BrokerSettings) -> str:
    """The agent's errors are edge.publish.connection's sentences: a refused login, or a socket
    error while connecting (TLS errors among them)."""
    lowered = error.lower()
    if "not authori" in lowered or "user name or password" in lowered:
        return credentials_fix()
    if "ssl" in lowered or "certificate" in lowered:
        return tls_fix(settings)
    if lowered.startswith("cannot reach broker"):
        return unreachable_fix(settings)
    return (
        "the broker refused or dropped the agent: ask the operator to look at the broker's log "
        "for this device"
    )
