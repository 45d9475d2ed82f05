"""``nursery-edge test-alert``: send a test event through the running agent, end to end.

The agent queues a ``test`` event in its outbox like any cry; the broker's acknowledgement is
awaited here, and the collector turns the event into a ``TEST_ALERT`` that every caregiver of
this device sees in the app and gets as a push notification on every phone where alarms are
turned on - the check that an alarm will really reach the parents, screen locked or not.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from edge.cli.status import add_location_arguments, on_state_dir
from edge.local_status import daemon_is_running, read_status, request_test_alert

# As LSB init scripts: "user had insufficient privilege".
EPILOG = """
examples:
  sudo nursery-edge test-alert
  nursery-edge test-alert --state-dir ./device/state --timeout 60

exit status: 0 the broker acknowledged the test event, 1 not acknowledged in time or the agent
is not running, 2 invalid configuration, 4 no permission to read the agent's state (use sudo).
"""
POLL_S = 0.5


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "test-alert",
        help="publish a test event end to end (the parents' app shows TEST_ALERT)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_location_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the broker's acknowledgement (default: %(default)s)",
    )
    parser.set_defaults(handler=on_state_dir("test-alert", _request))


def _request(args: argparse.Namespace, state_dir: Path) -> int:
    if not daemon_is_running(read_status(state_dir)):
        print(
            "nursery-edge test-alert: the agent is not running; start it first "
            "(sudo systemctl start nursery-edge) and check `nursery-edge status`",
            file=sys.stderr,
        )
        return 1
    request_id = uuid.uuid4().hex
    request_test_alert(state_dir, request_id)
    print("test alert requested; waiting for the broker's acknowledgement ...")
    deadline = time.monotonic() + args.timeout
    queued: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        document = read_status(state_dir) or {}
        test = document.get("test_alert") or {}
        if test.get("request_id") == request_id:
            queued = test
            if test.get("acknowledged"):
                print(
                    f"test alert sent (seq {test['seq']}) and acknowledged by the broker; the "
                    "parents' app shows TEST_ALERT in a moment, and every phone with alarms "
                    "turned on gets it as a notification (docs/alarms.md)"
                )
                return 0
        time.sleep(POLL_S)
    document = read_status(state_dir) or {}
    if queued is None:
        print("nursery-edge test-alert: the agent did not take the request", file=sys.stderr)
    else:
        print(
            f"nursery-edge test-alert: queued (seq {queued['seq']}) but not acknowledged within "
            f"{args.timeout:.0f} s; broker connected: {document.get('connected')}, last error: "
            f"{document.get('last_error') or 'none'}. It stays queued and is sent when the "
            "connection is back; `nursery-edge check` tests the broker connection.",
            file=sys.stderr,
        )
    return 1
