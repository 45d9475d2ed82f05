"""The dashboard's "not a cry" words and buttons (cloud/api/dashboard/not_a_cry.js), run in
Node as the browser runs the module: what a cry alert offers, what an ignored cry says (in the
viewer's own date), and the nursery card's "Sounds to ignore" line. The browser test
(tests/e2e/test_dashboard_not_a_cry_browser.py) clicks them on a real page."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.harness.external_material import node_executable

MODULE = Path(__file__).resolve().parents[2] / "cloud" / "api" / "dashboard" / "not_a_cry.js"

CRY = {
    "id": 42,
    "device_id": "nursery-1",
    "kind": "CRY_DETECTED",
    "sick_detected": False,
    "details": {"confidence": 0.9, "episode_id": 7, "heard": []},
}
IGNORED = {
    "id": 43,
    "device_id": "nursery-1",
    "kind": "CRY_IGNORED",
    "sick_detected": False,
    "details": {
        "episode_id": 9,
        # 23:30 UTC on the 6th is already the 7th in Berlin: the viewer's date is shown.
        "ignored": {"like_episode_id": 7, "marked_at": "2026-12-06T23:30:00Z", "similarity": 0.9},
    },
}


def run(script: str, tz: str = "Europe/Berlin") -> Any:
    """``script`` may use the module's exports and ``en`` (an en-GB day formatter); prints JSON."""
    prelude = (
        f"import * as m from {json.dumps(MODULE.as_uri())};\n"
        'const en = new Intl.DateTimeFormat("en-GB", '
        '{ day: "numeric", month: "short", year: "numeric" });\n'
        "const out = (value) => console.log(JSON.stringify(value));\n"
    )
    done = subprocess.run(
        [node_executable(), "--input-type=module", "-e", prelude + script],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "TZ": tz},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def views(alerts: list[dict[str, Any]], marked: list[int] | None) -> Any:
    marks = "null" if marked is None else f"new Set({json.dumps(marked)})"
    return run(
        f"const marks = {marks};\n"
        f"out({json.dumps(alerts)}.map((alert) => m.notACryView(alert, marks, en)));\n"
    )


def test_a_monitors_cry_alert_offers_not_a_cry_and_once_marked_undo() -> None:
    unmarked, marked = views([CRY], []), views([CRY], [7, 3])
    assert unmarked == [
        {
            "state": "markable",
            "label": "Not a cry",
            "action": {"method": "POST", "path": "/alerts/42/not-a-cry"},
        }
    ]
    assert marked == [
        {
            "state": "marked",
            "text": "Marked not a cry",
            "label": "Undo",
            "action": {"method": "DELETE", "path": "/alerts/42/not-a-cry"},
        }
    ]
    # The list not known (an older server): still offered; the API decides.
    assert views([CRY], None)[0]["state"] == "markable"


def test_only_a_monitors_cry_with_an_episode_can_be_marked() -> None:
    others = [
        {**CRY, "details": {"confidence": 0.9}},  # raised before episodes could be marked
        {**CRY, "details": {"episode_id": "7"}},
        {**CRY, "details": {"episode_id": 1.5}},
        {**CRY, "details": {"episode_id": -1}},
        {**CRY, "device_id": None, "sick_detected": True},  # an app upload
        {**CRY, "kind": "LOUD_SOUND"},
        {**CRY, "kind": "CLIMATE_OUT_OF_RANGE"},
        {**CRY, "details": None},
    ]
    assert [view["state"] for view in views(others, [7])] == ["none"] * len(others)


def test_an_ignored_cry_names_the_local_date_of_the_mark_and_offers_undo_while_it_stands() -> None:
    standing, undone, unknown = (
        views([IGNORED], [7]),
        views([IGNORED], [3]),
        views([IGNORED], None),
    )
    text = "Ignored: like the sound you marked on 7 Dec 2026"
    assert standing == [
        {
            "state": "ignored",
            "text": text,
            "label": "Undo",
            "action": {"method": "DELETE", "path": "/devices/nursery-1/ignored-sounds/7"},
        }
    ]
    assert undone == [{"state": "ignored-undone", "text": f"{text} · mark undone"}]
    assert unknown[0]["state"] == "ignored"
    # In New York the same mark was made on the 6th.
    new_york = run(
        f"out(m.notACryView({json.dumps(IGNORED)}, new Set([7]), en).text);", tz="America/New_York"
    )
    assert new_york == "Ignored: like the sound you marked on 6 Dec 2026"
    broken = {**IGNORED, "details": {"ignored": {"marked_at": "yesterday"}}}
    assert views([broken], [7]) == [
        {"state": "ignored-undone", "text": "Ignored: like a sound you marked not a cry"}
    ]


def test_ids_are_written_into_paths_safely() -> None:
    odd = {**IGNORED, "device_id": "a/b?c"}
    (view,) = views([odd], [7])
    assert view["action"]["path"] == "/devices/a%2Fb%3Fc/ignored-sounds/7"


def summaries(lists: list[object]) -> Any:
    return run(
        "const clock = (time) => time.toISOString().slice(11, 16);\n"
        f"out({json.dumps(lists)}.map((list) => m.ignoreListSummary(list, clock)));\n",
        tz="UTC",
    )


def test_the_nursery_card_counts_the_sounds_to_ignore_and_says_what_the_monitor_did() -> None:
    mark = {"episode_id": 7, "marked_at": "2026-12-06T21:00:00Z", "marked_by_name": "Ana"}
    applied = {"size": 2, "changed_at": "2026-12-06T21:00:05Z", "revision": 4, "unknown": []}
    cases: list[object] = [
        None,  # an older server
        {"revision": 0, "marks": [], "device": None},  # nothing marked ever
        {"revision": 4, "marks": [mark, {**mark, "episode_id": 3}], "device": applied},
        {"revision": 5, "marks": [mark], "device": applied},  # sent, not taken yet
        {"revision": 1, "marks": [mark], "device": None},  # the monitor never reported
        {"revision": 4, "marks": [mark], "device": {**applied, "unknown": [7]}},
        {"revision": 4, "marks": [mark] * 2, "device": {**applied, "unknown": [7, 3]}},
        # Cleared here; the monitor still holds two until it takes the change.
        {"revision": 6, "marks": [], "device": applied},
    ]
    assert summaries(cases) == [
        {"shown": False},
        {"shown": False},
        {
            "shown": True,
            "text": "Sounds to ignore: 2 (changed 21:00)",
            "note": "",
            "clearable": True,
        },
        {
            "shown": True,
            "text": "Sounds to ignore: 1 (changed 21:00)",
            "note": "Waiting for the monitor to take the latest change.",
            "clearable": True,
        },
        {
            "shown": True,
            "text": "Sounds to ignore: 1",
            "note": "Waiting for the monitor to take the latest change.",
            "clearable": True,
        },
        {
            "shown": True,
            "text": "Sounds to ignore: 1 (changed 21:00)",
            "note": "The monitor has no recording of one of them, so it changes nothing.",
            "clearable": True,
        },
        {
            "shown": True,
            "text": "Sounds to ignore: 2 (changed 21:00)",
            "note": "The monitor has no recording of 2 of them, so they change nothing.",
            "clearable": True,
        },
        {
            "shown": True,
            "text": "Sounds to ignore: 0 (changed 21:00)",
            "note": "Waiting for the monitor to take the latest change.",
            "clearable": True,  # sends the empty list again, should the monitor have missed it
        },
    ]


def test_marked_episodes_reads_the_list_of_the_api() -> None:
    found = run(
        "out([null, {}, {marks: [{episode_id: 7}, {episode_id: 0}, {episode_id: '3'}, null]}]"
        ".map((list) => { const s = m.markedEpisodes(list); return s && [...s]; }));"
    )
    assert found == [None, None, [7, 0]]
