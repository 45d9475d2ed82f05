"""'Not a cry' in the parents' dashboard, in headless Chromium against a real `nursery-cloud
serve` on PostgreSQL and Mosquitto (the fixtures of test_dashboard_browser.py): a parent marks a
monitor's cry alert, the monitor receives the mark (as itself, from the broker), a later cry the
monitor ignored shows muted with the date of the mark and rings nothing, its "Undo" takes the
mark back, and the nursery card's "Clear" forgets every mark."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from playwright.sync_api import Page, expect

from models.contract import IgnoredBecause, IgnoreList, MessageKind, decode_message, topic_for
from tests.e2e.test_dashboard_browser import (  # noqa: F401 (browser, device, phone, server, server_account: fixtures)
    LIVE_TIMEOUT_MS,
    Device,
    Parent,
    Server,
    browser,
    device,
    phone,
    register_through_the_api,
    screenshot,
    server,
    server_account,
    sign_in_through_the_page,
)


def ignore_lists(monitor: Device, count: int, timeout_s: float = 10.0) -> list[IgnoreList]:
    """The ignore lists the monitor has received so far (waiting for ``count`` of them)."""
    topic = topic_for(monitor.device_id, MessageKind.IGNORE_LIST)
    deadline = time.monotonic() + timeout_s
    while True:
        received = [
            decode_message(m.topic, bytes(m.payload))
            for m in list(monitor.mqtt.messages)
            if m.topic == topic
        ]
        if len(received) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(received) >= count, received
    assert all(isinstance(r, IgnoreList) for r in received)
    return received  # type: ignore[return-value]


@pytest.mark.slow
def test_a_parent_marks_not_a_cry_sees_the_ignored_cry_and_undoes_and_clears(
    server: Server,  # noqa: F811
    device: Device,  # noqa: F811
    phone: Page,  # noqa: F811
) -> None:
    email = register_through_the_api(server.url, "Dana")
    api = Parent(server.url, email)
    device.online()
    claimed = api.http.post(
        "/devices/claim", json={"claim_code": device.claim_code, "name": "Nursery"}
    )
    assert claimed.status_code == 201, claimed.text
    device.mqtt.subscribe(topic_for(device.device_id, MessageKind.IGNORE_LIST))
    sign_in_through_the_page(phone, server.url, email)
    expect(phone.locator("#connection")).to_have_attribute("data-state", "live")
    card = phone.locator(f'.device[data-device-id="{device.device_id}"]')
    ignore_line = card.locator("[data-role=ignore-list]")
    expect(ignore_line).to_be_hidden()  # nothing marked

    # The monitor alerts on a sound that was not the baby.
    episode = device.cry()
    cry = phone.locator('#alerts .alert-item[data-kind="CRY_DETECTED"]').first
    expect(cry).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    cry.get_by_role("button", name="Mark read").click()
    expect(phone.locator("#alarm")).to_be_hidden()
    cry.get_by_role("button", name="Not a cry").click()
    expect(cry.locator("[data-field=not-a-cry-text]")).to_have_text("Marked not a cry")
    expect(cry.get_by_role("button", name="Undo")).to_be_visible()
    expect(card.locator("[data-field=ignore-list-text]")).to_have_text("Sounds to ignore: 1")
    expect(card.locator("[data-field=ignore-list-note]")).to_have_text(
        "Waiting for the monitor to take the latest change."
    )
    listed = api.get(f"/devices/{device.device_id}/ignored-sounds")
    assert [(m["episode_id"], m["marked_by_name"]) for m in listed["marks"]] == [(episode, "Dana")]
    # The monitor got the list (the empty one of the claim first, then the mark).
    latest = ignore_lists(device, 2)[-1]
    assert (latest.seq, [m.episode_id for m in latest.marks]) == (listed["revision"], [episode])
    screenshot(phone, "5-not-a-cry-marked-phone")

    # The same sound again: the monitor does not alert; the page lists it muted, rings nothing.
    marked_at = datetime.fromisoformat(listed["marks"][0]["marked_at"])
    like = IgnoredBecause(like_episode_id=episode, marked_at=marked_at, similarity=0.94)
    device.cry(ignored=like)
    ignored = phone.locator('#alerts .alert-item[data-kind="CRY_IGNORED"]').first
    expect(ignored).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(ignored).to_have_class("alert-item ignored")
    expect(ignored.locator("[data-field=kind]")).to_have_text("Ignored")
    local_date = phone.evaluate(
        "iso => new Intl.DateTimeFormat(undefined, "
        "{day: 'numeric', month: 'short', year: 'numeric'}).format(new Date(iso))",
        listed["marks"][0]["marked_at"],
    )
    expect(ignored.locator("[data-field=message]")).to_have_text(
        f"Ignored: like the sound you marked on {local_date}"
    )
    expect(phone.locator("#alarm")).to_be_hidden()
    screenshot(phone, "6-ignored-cry-phone")

    # "Undo" on the ignored cry takes the mark back: the cry alert offers "Not a cry" again.
    ignored.get_by_role("button", name="Undo").click()
    expect(ignored.locator("[data-field=message]")).to_have_text(
        f"Ignored: like the sound you marked on {local_date} · mark undone"
    )
    expect(ignored.get_by_role("button", name="Undo")).to_be_hidden()
    expect(cry.get_by_role("button", name="Not a cry")).to_be_visible()
    expect(ignore_line).to_be_hidden()
    assert api.get(f"/devices/{device.device_id}/ignored-sounds")["marks"] == []
    assert ignore_lists(device, 3)[-1].marks == []

    # Marked again, then "Clear" on the card forgets every mark.
    cry.get_by_role("button", name="Not a cry").click()
    expect(card.locator("[data-field=ignore-list-text]")).to_have_text("Sounds to ignore: 1")
    card.get_by_role("button", name="Clear").click()
    expect(ignore_line).to_be_hidden()
    expect(cry.get_by_role("button", name="Not a cry")).to_be_visible()
    cleared = api.get(f"/devices/{device.device_id}/ignored-sounds")
    assert cleared["marks"] == []
    final = ignore_lists(device, 5)[-1]
    assert (final.seq, final.marks) == (cleared["revision"], [])
