"""The dashboard's alert list after GET /alerts (cloud/api/dashboard/alerts.js), run in Node as
the browser runs the module: an alert the WebSocket brought while the request was in flight is
kept, everything else follows the server's answer."""

from __future__ import annotations

import json
from typing import Any

from tests.harness.dashboard_modules import evaluate


def alert(alert_id: int, read: bool = False) -> dict[str, Any]:
    return {"id": alert_id, "kind": "CRY_DETECTED", "read": read}


def merged(current: list[dict[str, Any]], answer: list[dict[str, Any]]) -> list[Any]:
    expression = (
        f"[...alerts.mergeServerAlerts({json.dumps(current)}, {json.dumps(answer)}).values()]"
        ".sort((a, b) => a.id - b.id)"
    )
    return list(evaluate("alerts.js", "alerts", expression))


def test_an_alert_that_arrived_live_during_the_request_is_kept() -> None:
    # The page asked for /alerts before alert 8 was stored; the WebSocket then brought it.
    assert merged([alert(8)], [alert(5), alert(7)]) == [alert(5), alert(7), alert(8)]


def test_the_first_alert_of_an_account_survives_an_empty_answer() -> None:
    assert merged([alert(1)], []) == [alert(1)]


def test_the_server_answer_wins_for_the_alerts_it_holds() -> None:
    # Read on another phone of this caregiver: the server's state replaces the page's.
    assert merged([alert(7, read=False)], [alert(7, read=True)]) == [alert(7, read=True)]


def test_an_older_alert_the_server_no_longer_lists_is_dropped() -> None:
    # Not in the newest hundred any more (or gone with an unclaimed device): not kept.
    assert merged([alert(3), alert(9)], [alert(9), alert(10)]) == [alert(9), alert(10)]
