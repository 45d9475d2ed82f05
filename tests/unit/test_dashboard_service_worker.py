"""The dashboard's push logic, run in Node as the browser runs it: the service worker's pure
functions (cloud/api/dashboard/sw.js: payload -> notification, the acknowledge request) and the
page's (push.js: which state the "Alarms when this phone is locked" panel shows, the device
label, the server key's bytes). The browser test shows real notifications from real pushes
(tests/e2e/test_dashboard_push_browser.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.harness.dashboard_modules import evaluate
from tests.harness.external_material import node_executable

DASHBOARD = Path(__file__).resolve().parents[2] / "cloud" / "api" / "dashboard"

ALERT = {
    "id": 42,
    "kind": "CRY_DETECTED",
    "device_id": "nursery-1",
    "time": "2026-12-07T03:12:00Z",
    "needs_ack": True,
    "sick_detected": False,
    "escalation_level": 0,
}
ALARM = {
    "v": 1,
    "type": "alert",
    "tag": "alert-42",
    "title": "Baby is crying",
    "body": "Crying detected in the nursery",
    "alert": ALERT,
    "ack": {"url": "/push/ack", "token": "the-token"},
    "url": "/?alert=42",
}


def run_worker(expression: str, time_zone: str = "UTC") -> Any:
    """Evaluate ``expression`` in a context where sw.js ran as a worker's script, on a phone
    in ``time_zone`` whose language is English (US)."""
    script = f"""
const vm = require("node:vm");
const fs = require("node:fs");
const listeners = {{}};
const context = {{
  self: {{ addEventListener: (name) => {{ listeners[name] = true; }},
           location: {{ origin: "https://nursery.example" }} }},
  JSON, Date, Number, Boolean, String, Array, URL,
}};
vm.createContext(context);
vm.runInContext(fs.readFileSync({json.dumps(str(DASHBOARD / "sw.js"))}, "utf8"), context);
context.listeners = listeners;
const result = vm.runInContext({json.dumps(expression)}, context);
console.log(JSON.stringify(result === undefined ? null : result));
"""
    environment = {**os.environ, "TZ": time_zone, "LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8"}
    done = subprocess.run(
        [node_executable(), "-e", script],
        capture_output=True, text=True, timeout=60, check=False, env=environment,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def notification(payload: object) -> Any:
    return run_worker(f"notificationFor(readPayload({json.dumps(json.dumps(payload))}))")


def test_the_worker_listens_for_push_clicks_and_renewals() -> None:
    assert run_worker("listeners") == {
        "install": True,
        "activate": True,
        "push": True,
        "notificationclick": True,
        "pushsubscriptionchange": True,
    }


def test_an_alarm_rings_stays_and_offers_acknowledge() -> None:
    shown = notification(ALARM)
    assert shown["title"] == "Baby is crying"
    options = shown["options"]
    assert options["body"] == "Crying detected in the nursery"
    assert options["tag"] == "alert-42"
    assert options["renotify"] is True
    assert options["requireInteraction"] is True
    assert options["silent"] is False
    assert options["actions"] == [{"action": "ack", "title": "Acknowledge"}]
    assert options["icon"] == "/dashboard/icon-192.png"
    assert options["badge"] == "/dashboard/badge-96.png"
    assert options["data"]["ack"] == ALARM["ack"]
    assert options["data"]["url"] == "/?alert=42"
    assert options["timestamp"] == 1796613120000
    assert options["vibrate"] == [200, 100, 200]


def test_a_notice_is_silent_and_has_no_acknowledge() -> None:
    notice = {
        **ALARM,
        "title": "Room climate out of range",
        "alert": {**ALERT, "kind": "CLIMATE_OUT_OF_RANGE", "needs_ack": False},
    }
    del notice["ack"]
    options = notification(notice)["options"]
    assert options["silent"] is True
    assert options["requireInteraction"] is False
    assert options["actions"] == []
    assert "vibrate" not in options


def test_a_sick_alert_rings_with_its_own_vibration() -> None:
    sick = {**ALARM, "alert": {**ALERT, "sick_detected": True}}
    options = notification(sick)["options"]
    assert options["silent"] is False
    assert options["vibrate"] == [400, 200, 400, 200, 400]


def test_the_test_alert_rings_like_an_alarm_without_acknowledge() -> None:
    test = {
        **ALARM,
        "title": "Test alert",
        "alert": {**ALERT, "kind": "TEST_ALERT", "needs_ack": False},
    }
    del test["ack"]
    options = notification(test)["options"]
    assert options["silent"] is False
    assert options["vibrate"] == [200, 100, 200]
    assert options["requireInteraction"] is False
    assert options["actions"] == []


def test_an_alarm_without_a_token_has_no_acknowledge_button() -> None:
    assert notification({**ALARM, "ack": None})["options"]["actions"] == []


def test_acknowledged_replaces_the_alarm_silently() -> None:
    acknowledged = {
        "v": 1,
        "type": "acknowledged",
        "tag": "alert-42",
        "title": "Acknowledged",
        "body": "Anna took it at 03:12",
        "alert": ALERT,
        "url": "/?alert=42",
    }
    shown = notification(acknowledged)
    assert shown["title"] == "Acknowledged"
    options = shown["options"]
    assert options["body"] == "Anna took it at 03:12"
    assert options["tag"] == "alert-42"  # the same tag: it replaces the alarm
    assert options["silent"] is True
    assert options["requireInteraction"] is False
    assert options["actions"] == []


def test_the_acknowledgement_says_the_time_in_the_phones_zone_and_language() -> None:
    acknowledged = {
        "v": 1,
        "type": "acknowledged",
        "tag": "alert-42",
        "title": "Acknowledged",
        "body": "Anna took it at 03:12 UTC",
        "alert": {**ALERT, "acknowledged_at": "2026-12-07T03:12:40Z"},
        "taken_by": "Anna",
        "url": "/?alert=42",
    }
    berlin = notification_in(acknowledged, "Europe/Berlin")
    assert berlin["options"]["body"] == "Anna took it at 04:12 AM"
    assert notification_in(acknowledged, "America/New_York")["options"]["body"] == (
        "Anna took it at 10:12 PM"
    )
    in_german = run_worker("localTime('2026-12-07T15:12:40Z', 'de-DE', 'Europe/Berlin')")
    assert in_german == "16:12"
    nameless = notification_in({**acknowledged, "taken_by": None}, "Europe/Berlin")
    assert nameless["options"]["body"] == "Taken at 04:12 AM"
    # Without the time, or from a server that does not send the name: its own text (UTC).
    for older in (
        {**acknowledged, "alert": {**ALERT, "acknowledged_at": None}},
        {key: value for key, value in acknowledged.items() if key != "taken_by"},
    ):
        assert notification_in(older, "Europe/Berlin")["options"]["body"] == (
            "Anna took it at 03:12 UTC"
        )


def notification_in(payload: object, time_zone: str) -> Any:
    return run_worker(f"notificationFor(readPayload({json.dumps(json.dumps(payload))}))", time_zone)


def test_after_acknowledging_here_the_notification_says_who_took_it() -> None:
    alarm = json.dumps(json.dumps(ALARM))
    answered = {"acknowledged_at": "2026-12-07T03:12:40Z", "acknowledged_by": 3}
    here = f"acknowledgedHere(readPayload({alarm}), readAckAnswer({json.dumps(answered)}, "
    mine = run_worker(here + "null))", "Europe/Berlin")
    assert mine["options"]["body"] == "You took it at 04:12 AM."
    theirs = run_worker(here + "'B%C3%A9n'))", "Europe/Berlin")
    assert theirs["title"] == "Acknowledged"
    assert theirs["options"]["body"] == "Already taken by Bén at 04:12 AM."
    nameless = run_worker(f"acknowledgedHere(readPayload({alarm}), readAckAnswer({{}}, ''))")
    assert nameless["options"]["body"] == "Already taken by another caregiver."
    broken = run_worker("readAckAnswer(null, '%E0%A4%A')")
    assert broken == {"takenBy": "", "at": None}


def test_after_acknowledging_here_the_notification_says_so() -> None:
    shown = run_worker(f"acknowledgedHere(readPayload({json.dumps(json.dumps(ALARM))}))")
    assert shown["title"] == "Acknowledged"
    assert shown["options"]["tag"] == "alert-42"
    assert shown["options"]["silent"] is True
    assert shown["options"]["actions"] == []
    assert "ack" not in shown["options"]["data"]  # the token is not kept


def test_the_acknowledge_request_carries_the_notifications_token() -> None:
    request = run_worker(f"ackRequest(readPayload({json.dumps(json.dumps(ALARM))}))")
    assert request["url"] == "/push/ack"
    init = request["init"]
    assert init["method"] == "POST"
    assert init["headers"] == {"Content-Type": "application/json"}
    assert json.loads(init["body"]) == {"token": "the-token"}
    assert init["credentials"] == "omit"


def test_an_unreadable_push_still_shows_something() -> None:
    for text in ("", "not json", "[1, 2]", "null", "42"):
        shown = run_worker(f"notificationFor(readPayload({json.dumps(text)}))")
        assert shown["title"] == "Nursery", text
        assert shown["options"]["tag"] == "nursery"
        assert shown["options"]["actions"] == []


def test_a_click_never_leaves_the_site() -> None:
    paths = {
        "/?alert=1": "/?alert=1",
        "/ok?x=1": "/ok?x=1",
        "/push/ack": "/push/ack",
        "https://nursery.example/?alert=3": "/?alert=3",  # this site, spelled out
        "https://evil.example/": "/",
        "//evil.example/x": "/",
        "/\\evil.example": "/",  # a backslash is a slash to URL parsers: //evil.example
        "/\\/evil.example/x": "/",
        "\\\\evil.example": "/",
        "/\t/evil.example": "/",  # tabs and newlines are removed before parsing
        "https://nursery.example//evil.example/x": "/",  # a path that reads as a host
        "javascript:alert(1)": "/",
        "data:text/html,hi": "/",
        "": "/",
    }
    assert run_worker(f"{json.dumps(list(paths))}.map(appPath)") == list(paths.values())
    assert run_worker("[7, null, {}].map(appPath)") == ["/", "/", "/"]
    for url in ("https://evil.example/ack", "/\\evil.example/ack", "//evil.example/ack"):
        request = f"ackRequest({{ack: {{url: {json.dumps(url)}, token: 't'}}}}).url"
        assert run_worker(request) == "/", url


def run_page(expression: str, module: str = "push.js") -> Any:
    """Evaluate ``expression`` with the page's ``module`` imported as ``push``."""
    return evaluate(module, "push", expression)


def test_the_panel_state_follows_browser_server_and_permission() -> None:
    cases = [
        ({"supported": False, "iosBrowserTab": True}, "ios-home-screen"),
        ({"supported": False, "iosBrowserTab": False}, "unsupported"),
        ({"supported": True, "serverEnabled": False, "permission": "granted"}, "server-off"),
        ({"supported": True, "serverEnabled": True, "permission": "denied"}, "blocked"),
        ({"supported": True, "serverEnabled": True, "permission": "default"}, "off"),
        (
            {
                "supported": True,
                "serverEnabled": True,
                "permission": "granted",
                "subscribed": False,
            },
            "off",
        ),
        (
            {"supported": True, "serverEnabled": True, "permission": "granted", "subscribed": True},
            "on",
        ),
    ]
    got = run_page(f"{json.dumps([case for case, _ in cases])}.map(push.pushState)")
    assert got == [state for _, state in cases]
    assert set(got) <= set(run_page("Object.keys(push.STATES)"))


def test_a_subscription_is_labelled_with_browser_and_platform() -> None:
    agents = {
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36": "Chrome on Android",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1": "Safari on iPhone",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0": (
            "Firefox on Windows"
        ),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0": "Edge on Windows",
        "": "Browser",
    }
    assert run_page(f"{json.dumps(list(agents))}.map(push.deviceLabel)") == list(agents.values())


def test_the_server_key_becomes_its_bytes() -> None:
    # base64url without padding, as GET /push/config gives it.
    assert run_page("Array.from(push.keyBytes('BP8A_w'))") == [4, 255, 0, 255]


def test_a_tapped_notification_names_its_alert_in_the_address() -> None:
    """The payload's url "/?alert=42" opens (or is posted to) the page, which shows that alert
    (the browser test checks the highlight)."""
    urls = {
        "/?alert=42": 42,
        "https://nursery.example/?alert=7": 7,
        "https://nursery.example/?x=1&alert=9007199254740": 9007199254740,
        "/": None,
        "/?alert=": None,
        "/?alert=0": None,
        "/?alert=-1": None,
        "/?alert=1e3": None,
        "/?alert=4x": None,
        "/?alert=12345678901234567890": None,
    }
    got = run_page(f"{json.dumps(list(urls))}.map(push.alertFromUrl)", module="alerts.js")
    assert got == list(urls.values())
