"""The parents' web dashboard in a real browser: Debian's headless Chromium, driven by
Playwright, at a phone's screen size, against a real `nursery-cloud serve` (the API and the
collector in one process) on PostgreSQL and a real Mosquitto. A simulated device publishes real
wire-contract payloads over MQTT with its own broker account.

Parents register and sign in through the page, see a reading appear without a reload, get the
cry alarm (and the distinct "may be sick" one), mark alerts read (checked through the API too),
change settings, share the nursery, survive an expired access token, and see the page reconnect
by itself after a server restart. Screenshots are kept in test-artifacts/dashboard/.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from cloud.rules import NurserySettings
from models.contract import (
    Event,
    HeardLabel,
    IgnoredBecause,
    MessageKind,
    Status,
    Telemetry,
    topic_for,
)
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.mqtt import ProbeClient
from tests.harness.network import free_port
from tests.harness.processes import ManagedProcess, console_script
from tests.harness.services import BrokerAccount, create_account, create_instance_account

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "dashboard"
AUDIO = REPO_ROOT / "tests" / "data" / "audio"
CHROMIUM = Path("/usr/bin/chromium")
PHONE: ViewportSize = {"width": 390, "height": 844}
DASH = "\u2013"  # the en dash the page puts in a range: 16-22
# The page's one time format for today: "14:05" (or "02:05 PM" in a 12-hour locale).
CLOCK = r"\d{2}:\d{2}(\s?[AP]M)?"
SECRET = "dashboard-browser-test-secret-0123456789-abcdef"
PASSWORD = "parentPassword123"
# Generous: the page gets a message within a second; CI machines can be slow and busy.
LIVE_TIMEOUT_MS = 20_000
# Browser console errors that are the expected side of what a test does: a refused token (the
# page then refreshes it) and a server that is being restarted. Anything else - a script error,
# a Content-Security-Policy violation - fails the test.
EXPECTED_CONSOLE_ERRORS = ("status of 401", "WebSocket connection to", "ERR_CONNECTION_REFUSED")


# --- services ------------------------------------------------------------------------------


@dataclass
class Server:
    """`nursery-cloud serve` on a fixed port, so it can be restarted where the page expects it."""

    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self.process = ManagedProcess(
            [console_script("nursery-cloud"), "serve", "--port", str(self.port)],
            self.env,
            self.log_dir / f"serve-{self.port}-{self.starts}.log",
        )
        self.process.wait_for_port(self.port, timeout_s=60)

    def stop(self) -> None:
        if self.process is not None:
            assert self.process.stop_cleanly(), self.process.output()
            self.process = None


def new_server(
    database_url: str, mosquitto: MosquittoBroker, account: BrokerAccount, workdir: Path
) -> Server:
    # The broker allows one connection per account: the embedded collector has its own, an
    # instance of the same svc.server role (one per server, as several run at once).
    collector = create_instance_account(mosquitto, "server", f"collector-{uuid.uuid4().hex[:8]}")
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET": SECRET,
        "NURSERY_UPLOAD_DIR": str(workdir / "uploads"),
        "MQTT_HOST": mosquitto.host,
        "MQTT_PORT": str(mosquitto.port),
        "MQTT_USERNAME": account.username,
        "MQTT_PASSWORD": account.password,
        "NURSERY_COLLECTOR_MQTT_USERNAME": collector.username,
        "NURSERY_COLLECTOR_MQTT_PASSWORD": collector.password,
        # Its own persistent session, so no other test's collector shares its messages.
        "NURSERY_COLLECTOR_CLIENT_ID": f"dashboard-e2e-{uuid.uuid4().hex[:8]}",
        "NURSERY_COLLECTOR_SHARE_GROUP": "",
        "NURSERY_COLLECTOR_HTTP_PORT": "0",
    }
    return Server(env, workdir)


@pytest.fixture(scope="module")
def server_account(mosquitto: MosquittoBroker) -> BrokerAccount:
    """`nursery-cloud serve` is the collector and the API at once: the svc.server grants."""
    return create_account(mosquitto, "svc.server")


@pytest.fixture(scope="module")
def server(
    database_url: str,
    mosquitto: MosquittoBroker,
    server_account: BrokerAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    running = new_server(
        database_url, mosquitto, server_account, tmp_path_factory.mktemp("dashboard")
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Never a skip: a browser test that did not run must fail the suite.
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the dashboard's browser tests need Debian's Chromium "
            "(apt-get install chromium chromium-driver)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A phone-sized page (390 x 844 CSS pixels, touch); browser errors fail the test."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}")
            if message.type == "error"
            and not any(expected in message.text for expected in EXPECTED_CONSOLE_ERRORS)
            else None
        ),
    )
    try:
        yield page
        assert errors == [], errors
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky bar at the top, where it belongs
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _session_once_rotated(page: Page, old_refresh: str) -> dict[str, Any]:
    """The page's stored sign-in once its refresh token is no longer `old_refresh`.

    Polled from here rather than with wait_for_function: the page's clock is faked, and the
    stored pair lands a moment after the /auth/refresh response the test waited for.
    """
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while True:
        state: dict[str, Any] = page.evaluate(
            "JSON.parse(sessionStorage.getItem('nursery.session'))"
        )
        if state["refresh"] != old_refresh:
            return state
        assert time.monotonic() < deadline, "the page did not store the rotated refresh token"
        page.wait_for_timeout(100)


# --- a device and the API, as the test sees them --------------------------------------------


class Device:
    """A registered nursery device that publishes over MQTT with its own broker account."""

    def __init__(self, database_url: str, mosquitto: MosquittoBroker) -> None:
        self.device_id = f"nursery-{uuid.uuid4().hex[:8]}"
        run = subprocess.run(
            [console_script("nursery-cloud"), "device", "register", self.device_id, "--claim-code"],
            env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )
        match = re.search(r"claim code: (\S+)", run.stdout)
        assert match is not None, run.stdout + run.stderr
        self.claim_code = match.group(1)
        account = create_account(mosquitto, self.device_id)
        self.mqtt = ProbeClient(self.device_id, account.username, account.password)
        self.mqtt.connect(mosquitto.host, mosquitto.port)
        self.seq = 0

    def _publish(self, kind: MessageKind, payload: bytes, retain: bool = False) -> None:
        reason = self.mqtt.publish(topic_for(self.device_id, kind), payload, retain=retain)
        assert not reason.is_failure, reason

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def online(self) -> None:
        status = Status(
            device_id=self.device_id, seq=self.seq, ts=datetime.now(UTC), state="online"
        )
        self._publish(MessageKind.STATUS, status.to_json(), retain=True)

    def reading(self, temperature: float, humidity: float, sound: tuple[float, float]) -> None:
        reading = Telemetry(
            device_id=self.device_id,
            seq=self._next(),
            ts=datetime.now(UTC),
            temperature_c=temperature,
            humidity_pct=humidity,
            sound_dbfs_avg=sound[0],
            sound_dbfs_max=sound[1],
            interval_s=10.0,
        )
        self._publish(MessageKind.TELEMETRY, reading.to_json())

    def cry(self, ignored: IgnoredBecause | None = None) -> int:
        """A cry_started (episode = its seq, returned); ``ignored``: one the monitor did not
        alert on because it sounded like a sound marked "not a cry"."""
        seq = self._next()
        event = Event(
            device_id=self.device_id,
            seq=seq,
            ts=datetime.now(UTC),
            kind="cry_started",
            episode_id=seq,
            confidence=0.94,
            sound_dbfs=-22.0,
            # What the detector heard, as a monitor with a labelled model sends it.
            heard=[
                HeardLabel(label="Baby cry, infant cry", score=0.93),
                HeardLabel(label="Whimper", score=0.41),
                HeardLabel(label="Speech", score=0.08),
            ],
            ignored=ignored,
        )
        self._publish(MessageKind.EVENT, event.to_json())
        return seq

    def close(self) -> None:
        self.mqtt.close()


@pytest.fixture
def device(database_url: str, mosquitto: MosquittoBroker) -> Iterator[Device]:
    simulated = Device(database_url, mosquitto)
    try:
        yield simulated
    finally:
        simulated.close()


class Parent:
    """The same account through the API, to check what the page did."""

    def __init__(self, url: str, email: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        login = self.http.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        self.http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def new_email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def register_through_the_page(page: Page, url: str, name: str, email: str) -> None:
    page.goto(url)
    expect(page.locator("#auth-view")).to_be_visible()
    page.get_by_role("button", name="Create an account").click()
    form = page.locator("#register-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.locator("#dashboard-view")).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as {name}")


def sign_in_through_the_page(page: Page, url: str, email: str) -> None:
    page.goto(url)
    form = page.locator("#sign-in-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#dashboard-view")).to_be_visible()


def register_through_the_api(url: str, name: str) -> str:
    email = new_email(name)
    created = httpx.post(
        f"{url}/auth/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert created.status_code == 201, created.text
    return email


def wait_for_reading(page: Page, device: Device, card_selector: str, temperature: float) -> None:
    """Publish the reading until the card shows it. Retried because the collector's
    subscription is set up asynchronously after the server starts listening; each attempt is
    a new reading, as a device would send."""
    value = page.locator(f"{card_selector} [data-field=temperature]")
    for _attempt in range(5):
        device.reading(temperature, 41.5, (-48.2, -31.0))
        try:
            expect(value).to_have_text(f"{temperature:.1f}", timeout=4_000)
            return
        except AssertionError:
            continue
    expect(value).to_have_text(f"{temperature:.1f}", timeout=LIVE_TIMEOUT_MS)


# --- the tests ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_parent_sees_live_readings_and_cry_alarms_on_a_phone(
    server: Server, device: Device, phone: Page
) -> None:
    email = new_email("ana")
    register_through_the_page(phone, server.url, "Ana", email)
    expect(phone.locator("#connection")).to_have_attribute("data-state", "live")
    expect(phone.locator("#no-devices")).to_be_visible()

    # The monitor is on; the parent adds it with the installer's claim code.
    device.online()
    phone.locator("#claim summary").click()
    phone.get_by_label("Claim code").fill(device.claim_code)
    phone.get_by_label("Name (optional)").fill("Baby's room")
    phone.get_by_role("button", name="Add", exact=True).click()
    card = f'.device[data-device-id="{device.device_id}"]'
    expect(phone.locator(f"{card} h3")).to_have_text("Baby's room")
    defaults = NurserySettings()
    expect(phone.locator(f"{card} [data-field=temperature-range]")).to_have_text(
        f"safe {defaults.temperature_min_c:g}{DASH}{defaults.temperature_max_c:g} °C"
    )
    expect(phone.locator(f"{card} [data-field=humidity-range]")).to_have_text(
        f"safe {defaults.humidity_min_pct:g}{DASH}{defaults.humidity_max_pct:g} %"
    )

    # A reading arrives over MQTT -> collector -> WebSocket: shown without a reload.
    phone.evaluate("window.notReloaded = true")
    too_warm = defaults.temperature_max_c + 1.4
    wait_for_reading(phone, device, card, too_warm)
    expect(phone.locator(f"{card} [data-field=humidity]")).to_have_text("41.5")
    # Sound in words; the measured levels only on a long press (title).
    expect(phone.locator(f"{card} [data-field=sound]")).to_have_text("Some noise")
    expect(phone.locator(f"{card} [data-field=sound]")).to_have_attribute(
        "title", "average -48.2 dBFS, peak -31.0 dBFS"
    )
    expect(phone.locator(f"{card} [data-field=reading-time]")).to_have_text(
        re.compile(rf"^reading of {CLOCK}$")
    )
    expect(phone.locator(f'{card} .reading[data-metric="temperature"]')).to_have_class(
        re.compile(r"\bout\b")
    )
    expect(phone.locator(f"{card} [data-field=last-seen]")).to_have_text("last seen just now")
    expect(phone.locator(f"{card} [data-field=presence]")).to_have_text("online")
    assert phone.evaluate("window.notReloaded") is True, "the page was reloaded"

    # The chart shows the stored readings for both periods.
    for period, label in (("7d", "7 days"), ("24h", "24 h")):
        phone.get_by_role("button", name=label).click()
        expect(phone.locator("#chart")).to_have_attribute("data-range", period)
        expect(phone.locator("#chart circle.dot").first).to_be_visible()
    expect(phone.locator("#chart")).to_have_attribute(
        "aria-label", re.compile(rf"Latest temperature {too_warm:.1f} °C")
    )

    # Sound on (a user gesture), then the baby cries.
    phone.get_by_role("button", name="Enable sound").click()
    expect(phone.locator("#sound-toggle")).to_have_attribute("aria-pressed", "true")
    device.cry()
    banner = phone.locator("#alarm")
    expect(banner).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(banner).to_have_attribute("data-kind", "cry")
    expect(phone.locator("#alarm-title")).to_have_text("Baby is crying")
    expect(phone.locator("body")).to_have_attribute("data-alarm-sound", "cry")
    cry = phone.locator('#alerts .alert-item[data-kind="CRY_DETECTED"]').first
    expect(cry).to_have_attribute("data-read", "false")
    expect(cry.locator("[data-field=where]")).to_have_text("Baby's room")
    expect(cry.locator("[data-field=heard]")).to_have_text(
        "Heard: Baby cry, infant cry 93 %, Whimper 41 %, Speech 8 %"
    )
    expect(phone.locator("#unread-count")).to_have_text("1 unread")
    assert phone.evaluate("window.notReloaded") is True, "the page was reloaded"
    # The history counts this cry at once: no "none" under the cry alarm.
    expect(phone.locator("#chart .strip-label").last).to_have_text(re.compile(r"^Cries \(up to"))
    # The parents' language: one time format, no units or API paths of the engineers.
    expect(cry.locator("[data-field=time]")).to_have_text(re.compile(rf"^{CLOCK}$"))
    expect(phone.locator("#alarm-detail")).to_have_text(re.compile(rf"· {CLOCK}$"))
    page_text = phone.locator("body").inner_text()
    for jargon in ("dBFS", "/health", "timeseries"):
        assert jargon not in page_text, jargon
    screenshot(phone, "1-cry-alarm-phone")
    # The README's picture is this screenshot, so it always shows the page as it is.
    (REPO_ROOT / "docs" / "images" / "dashboard.png").write_bytes(
        (ARTIFACTS / "1-cry-alarm-phone.png").read_bytes()
    )

    # Marked read in the feed: the alarm stops, the feed says so, and so does the API.
    cry.get_by_role("button", name="Mark read").click()
    expect(cry).to_have_attribute("data-read", "true")
    expect(banner).to_be_hidden()
    expect(phone.locator("body")).to_have_attribute("data-alarm-sound", "")
    api = Parent(server.url, email)
    alerts = api.get("/alerts", kind="CRY_DETECTED")
    assert [(a["device_id"], a["read"]) for a in alerts] == [(device.device_id, True)]
    assert api.get("/alerts/unread-count") == {"unread": 0}

    # A crying upload with a fever: the distinct "may be sick" alarm.
    with (AUDIO / "cry_donateacry.flac").open("rb") as audio:
        upload = api.http.post(
            "/health/upload",
            data={"temperature": "39.2", "humidity": "45"},
            files={"audio": ("cry.flac", audio, "audio/flac")},
        )
    assert upload.status_code == 201, upload.text
    assert upload.json()["sick_detected"] is True
    expect(banner).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(banner).to_have_attribute("data-kind", "sick")
    expect(phone.locator("#alarm-title")).to_have_text("Baby may be sick")
    expect(phone.locator("body")).to_have_attribute("data-alarm-sound", "sick")
    sick = phone.locator("#alerts .alert-item.sick").first
    expect(sick.locator("[data-field=kind]")).to_have_text("May be sick")
    expect(sick.locator("[data-field=where]")).to_have_text("App upload")
    expect(sick.locator("[data-field=heard]")).to_be_hidden()  # an upload names nothing
    screenshot(phone, "2-sick-alarm-phone")

    # The banner's own button acknowledges it (for every caregiver) and marks it read.
    banner.get_by_role("button", name="Acknowledge").click()
    expect(banner).to_be_hidden()
    expect(sick).to_have_attribute("data-read", "true")
    expect(phone.locator("#unread-count")).to_be_hidden()
    assert api.get("/alerts/unread-count") == {"unread": 0}
    assert all(alert["read"] for alert in api.get("/alerts"))
    (sick_alert,) = [a for a in api.get("/alerts") if a["sick_detected"]]
    assert sick_alert["acknowledged_at"] is not None
    screenshot(phone, "3-all-read-phone")


@pytest.mark.slow
def test_an_owner_tunes_and_shares_the_nursery_and_stays_signed_in(
    server: Server, device: Device, phone: Page
) -> None:
    email = register_through_the_api(server.url, "Ben")
    carer_email = register_through_the_api(server.url, "Cleo")
    api = Parent(server.url, email)
    claimed = api.http.post(
        "/devices/claim", json={"claim_code": device.claim_code, "name": "Nursery"}
    )
    assert claimed.status_code == 201, claimed.text
    sign_in_through_the_page(phone, server.url, email)
    card = phone.locator(f'.device[data-device-id="{device.device_id}"]')
    expect(card.locator("h3")).to_have_text("Nursery")

    # Settings: a more sensitive detector and a warmer room allowed.
    # The form is filled from the device by the <details> "toggle" event, which the browser
    # dispatches a moment after the click: wait until it has been handled, or it can overwrite
    # the fill below. (The readout alone cannot tell: device updates fill the closed form too,
    # so it shows 0.50 before the toggle arrives; waiting on it failed in CI.) Listeners run in
    # the order added, so this one runs after the dashboard's own.
    settings = card.locator("[data-role=settings]")
    settings.evaluate(
        "d => d.addEventListener('toggle', () => { d.dataset.toggled = 'yes'; }, {once: true})"
    )
    card.locator("summary", has_text="Settings").click()
    expect(settings).to_have_attribute("data-toggled", "yes")
    form = card.locator("[data-role=settings-form]")
    expect(form.locator("input[name=cry_sensitivity]")).to_have_value("0.5")
    expect(form.locator("[data-field=sensitivity-value]")).to_have_text("0.50")
    form.locator("input[name=cry_sensitivity]").fill("0.7")
    expect(form.locator("[data-field=sensitivity-value]")).to_have_text("0.70")
    form.locator("input[name=temperature_max_c]").fill("23")
    form.get_by_role("button", name="Save settings").click()
    expect(form.locator("[data-field=settings-status]")).to_have_text(
        "Saved and sent to the monitor."
    )
    defaults = NurserySettings()
    expect(card.locator("[data-field=temperature-range]")).to_have_text(
        f"safe {defaults.temperature_min_c:g}{DASH}23 °C"
    )
    stored = api.get(f"/devices/{device.device_id}")
    assert stored["nursery_settings"]["temperature_max_c"] == 23.0
    assert stored["device_settings"] == {"cry_sensitivity": 0.7}

    # Sharing: invite a caregiver by e-mail, see them listed, remove them again.
    card.locator("summary", has_text="Caregivers").click()
    people = card.locator("[data-field=caregivers] li")
    expect(people).to_have_count(1)
    expect(people.first).to_contain_text(email)
    card.get_by_label("Invite by e-mail").fill(carer_email)
    card.get_by_role("button", name="Invite").click()
    expect(people).to_have_count(2)
    carer = people.filter(has_text=carer_email)
    expect(carer.locator("[data-field=role]")).to_have_text("caregiver")
    members = api.get(f"/devices/{device.device_id}/caregivers")
    assert [m["email"] for m in members] == [email, carer_email]
    screenshot(phone, "4-settings-and-sharing-phone")
    carer.get_by_role("button", name="Remove").click()
    expect(people).to_have_count(1)
    assert len(api.get(f"/devices/{device.device_id}/caregivers")) == 1

    # An access token the server no longer accepts: the page refreshes it and carries on.
    before = phone.evaluate("JSON.parse(sessionStorage.getItem('nursery.session'))")
    phone.evaluate(
        """() => {
        const state = JSON.parse(sessionStorage.getItem('nursery.session'));
        state.access = 'not-a-valid-token';
        sessionStorage.setItem('nursery.session', JSON.stringify(state));
    }"""
    )
    phone.reload()
    expect(card.locator("h3")).to_have_text("Nursery")
    expect(phone.locator("#connection")).to_have_attribute("data-state", "live")
    after = phone.evaluate("JSON.parse(sessionStorage.getItem('nursery.session'))")
    assert after["refresh"] != before["refresh"], "the refresh token was not rotated"
    assert after["access"] != "not-a-valid-token"

    # Shortly before the access token expires (30 min), the page swaps it by itself. The
    # browser's clock is fast-forwarded; the server's tokens are real.
    phone.clock.install()
    phone.reload()
    expect(phone.locator("#connection")).to_have_attribute("data-state", "live")
    with phone.expect_response(lambda r: r.url.endswith("/auth/refresh")) as refreshed:
        phone.clock.fast_forward("29:30")
    assert refreshed.value.status == 200
    # The response is in; the page stores the new pair once it has read the body.
    latest = _session_once_rotated(phone, after["refresh"])
    expect(card.locator("h3")).to_have_text("Nursery")

    # Signing out ends the sign-in on the server too.
    with phone.expect_response(lambda r: r.url.endswith("/auth/logout")) as logout:
        phone.get_by_role("button", name="Sign out").click()
    assert logout.value.status == 204
    expect(phone.locator("#auth-view")).to_be_visible()
    assert phone.evaluate("sessionStorage.getItem('nursery.session')") is None
    refused = httpx.post(f"{server.url}/auth/refresh", json={"refresh_token": latest["refresh"]})
    assert refused.status_code == 401

    # Signed in again: the page's socket carries no token in its URL (the first message does).
    # Signing out everywhere from another device closes it ("session ended"), and the page
    # asks to sign in again.
    socket_urls: list[str] = []
    phone.on("websocket", lambda socket: socket_urls.append(socket.url))
    sign_in_through_the_page(phone, server.url, email)
    expect(phone.locator("#connection")).to_have_attribute("data-state", "live")
    assert socket_urls, "the page opened no WebSocket"
    assert all("token" not in url for url in socket_urls), socket_urls
    elsewhere = httpx.post(f"{server.url}/auth/login", json={"email": email, "password": PASSWORD})
    everywhere = httpx.post(
        f"{server.url}/auth/logout-all",
        headers={"Authorization": f"Bearer {elsewhere.json()['access_token']}"},
    )
    assert everywhere.status_code == 204
    expect(phone.locator("#auth-view")).to_be_visible()
    expect(phone.locator("#auth-error")).to_contain_text("sign in again")


@pytest.mark.slow
def test_the_page_reconnects_by_itself_after_a_server_restart(
    database_url: str,
    mosquitto: MosquittoBroker,
    server_account: BrokerAccount,
    device: Device,
    phone: Page,
    tmp_path: Path,
) -> None:
    # A second server at once: its API publisher needs an account of its own too.
    own_account = create_instance_account(mosquitto, "server", f"api-{uuid.uuid4().hex[:8]}")
    own = new_server(database_url, mosquitto, own_account, tmp_path)
    own.start()
    try:
        register_through_the_page(phone, own.url, "Dana", new_email("dana"))
        phone.locator("#claim summary").click()
        phone.get_by_label("Claim code").fill(device.claim_code)
        phone.get_by_role("button", name="Add", exact=True).click()
        card = f'.device[data-device-id="{device.device_id}"]'
        expect(phone.locator(f"{card} h3")).to_have_text(device.device_id)
        connection = phone.locator("#connection")
        expect(connection).to_have_attribute("data-state", "live")

        own.stop()
        expect(connection).to_have_attribute("data-state", re.compile("reconnecting|connecting"))
        expect(connection).to_contain_text("connecting")
        screenshot(phone, "5-reconnecting-phone")
        own.start()
        expect(connection).to_have_attribute("data-state", "live", timeout=45_000)
        wait_for_reading(phone, device, card, 20.5)
    finally:
        own.stop()
