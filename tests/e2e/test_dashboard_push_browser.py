"""The dashboard as an installed app that gets alarms on a locked phone: Debian's headless
Chromium (Playwright) against a real `nursery-cloud serve` with Web Push configured, on
PostgreSQL and Mosquitto, with a simulated device (the fixtures of test_dashboard_browser.py).

The alarm travels the whole way through real parts but one: a device's cry -> the server's push
pipeline -> an encrypted, VAPID-signed push request to a local push service
(tests/harness/push_service.py), which decrypts it with the subscription's keys -> delivered to
the page's real service worker through Chromium's own push path (DevTools'
`ServiceWorker.deliverPushMessage`, what a push service's message turns into) -> a real
notification -> its "Acknowledge" runs the worker's own click handler -> `POST /push/ack` ->
the alert is acknowledged for everyone, and the server's "acknowledged" push replaces the
notification.

The part that is not real: headless Chromium cannot subscribe at a push service (in a
Playwright context, an incognito profile, it refuses at once; in a persistent profile it waits
for Google's FCM forever), so for the "Turn on" path the page's `PushManager.subscribe` answers
with a subscription of the local push service. Everything the page then does with it - posting
`toJSON()` and a label, showing "on", "Turn off" deleting it - is real, against the real API. The
real refusal is tested too: the page says the browser could not subscribe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect

from cloud.push.keys import VapidKeyPair, generate_vapid_keys
from tests.e2e.test_dashboard_browser import (  # noqa: F401 (browser, device, server, server_account: fixtures)
    CHROMIUM,
    EXPECTED_CONSOLE_ERRORS,
    LIVE_TIMEOUT_MS,
    PHONE,
    Device,
    Parent,
    Server,
    browser,
    device,
    new_email,
    new_server,
    register_through_the_page,
    screenshot,
    server,
    server_account,
    sign_in_through_the_page,
    wait_for_reading,
)
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.push_api import push_env
from tests.harness.push_service import BrowserSubscription, LocalPushService, PushRequest
from tests.harness.services import BrokerAccount

PUSH_TIMEOUT_S = 20.0
REDELIVER_AFTER_S = 5.0

# The page's PushManager answers with the local push service's subscription (see the module's
# docstring); it records the key the page subscribed with, and unsubscribing forgets it.
STAND_IN_SUBSCRIPTION = """
(({ subscription }) => {
  let current = null;
  const bytes = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)), (c) =>
      c.charCodeAt(0));
  };
  const make = (key) => ({
    endpoint: subscription.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: key },
    toJSON: () => subscription,
    unsubscribe: async () => {
      current = null;
      window.standInUnsubscribed = true;
      return true;
    },
  });
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.standInSubscribedWith = btoa(String.fromCharCode(...key))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    current = make(key.buffer);
    return current;
  };
  PushManager.prototype.getSubscription = async function () {
    return current;
  };
})
"""


# --- services ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vapid() -> VapidKeyPair:
    return generate_vapid_keys()


@pytest.fixture(scope="module")
def push_service(vapid: VapidKeyPair) -> Iterator[LocalPushService]:
    with LocalPushService(application_server_key=vapid.public_key) as service:
        yield service


@pytest.fixture(scope="module")
def push_server(
    database_url: str,
    mosquitto: MosquittoBroker,
    server_account: BrokerAccount,  # noqa: F811
    vapid: VapidKeyPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """`nursery-cloud serve` with push configured towards the local push service."""
    running = new_server(
        database_url, mosquitto, server_account, tmp_path_factory.mktemp("dashboard-push")
    )
    running.env.update(push_env(vapid))
    running.start()
    try:
        yield running
    finally:
        running.stop()


# --- the browser ---------------------------------------------------------------------------


@contextmanager
def app_window(
    browser: Browser,  # noqa: F811
    url: str,
    *,
    notifications: bool,
    subscription: BrowserSubscription | None = None,
    expected_errors: tuple[str, ...] = (),
) -> Iterator[Page]:
    """A phone-sized page; with `notifications` the site may show notifications (as after the
    parent allowed them); with `subscription` the page's PushManager gives that one. Browser
    errors (a CSP violation, a script error) fail the test, but for `expected_errors`."""
    expected = EXPECTED_CONSOLE_ERRORS + expected_errors
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    if notifications:
        context.grant_permissions(["notifications"], origin=url)
    if subscription is not None:
        argument = json.dumps({"subscription": subscription.to_json()})
        context.add_init_script(f"{STAND_IN_SUBSCRIPTION}({argument});")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text}")
            if message.type == "error" and not any(known in message.text for known in expected)
            else None
        ),
    )
    try:
        yield page
        assert errors == [], errors
    finally:
        context.close()


class PushPort:
    """Chromium's own push path into the page's service worker (DevTools protocol): what a
    push service's message becomes once the browser has received and decrypted it."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.page = page
        self.cdp: CDPSession = context.new_cdp_session(page)
        self.registrations: dict[str, str] = {}  # scope URL -> registration id
        self.worker_errors: list[str] = []
        self.cdp.on("ServiceWorker.workerRegistrationUpdated", self._updated)
        self.cdp.on("ServiceWorker.workerErrorReported", self._error)
        self.cdp.send("ServiceWorker.enable")

    def _error(self, event: dict[str, Any]) -> None:
        message = event["errorMessage"]
        self.worker_errors.append(f"{message['errorMessage']} ({message['sourceURL']})")

    def _updated(self, event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if not registration["isDeleted"]:
                self.registrations[registration["scopeURL"]] = registration["registrationId"]

    def registration_id(self, scope: str) -> str:
        # A push to a worker that is still installing is dropped: wait until it is active.
        self.page.evaluate("async () => { await navigator.serviceWorker.ready; }")
        deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
        while scope not in self.registrations:
            assert time.monotonic() < deadline, f"no worker for {scope}: {self.registrations}"
            self.page.wait_for_timeout(100)  # lets Playwright dispatch the protocol's events
        return self.registrations[scope]

    def deliver(self, origin: str, payload: dict[str, Any] | None) -> None:
        self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": origin,
                "registrationId": self.registration_id(f"{origin}/"),
                "data": json.dumps(payload),
            },
        )

    def push_until_shown(
        self,
        origin: str,
        payload: dict[str, Any] | None,
        tag: str,
        check: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any]:
        """Deliver the push and wait for its notification; deliver it again when none came.

        DevTools' delivery is fire-and-forget, and on a loaded CI machine Chromium once dropped
        one (no notification within 20 s, no worker error). A push service does the same: it
        sends again until the browser takes the message. A second copy is harmless - the same
        tag replaces the notification - so what is tested stays the worker's handling."""
        deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
        deliveries = 0
        while True:
            self.deliver(origin, payload)
            deliveries += 1
            again_at = min(deadline, time.monotonic() + REDELIVER_AFTER_S)
            while time.monotonic() < again_at:
                shown = notifications(self.page, tag)
                if len(shown) == 1 and check(shown[0]):
                    return shown[0]
                self.page.wait_for_timeout(100)
            assert time.monotonic() < deadline, (
                f"notification {tag} after {deliveries} deliveries: {shown};"
                f" worker errors: {self.worker_errors}"
            )


NOTIFICATIONS = """async (tag) => {
  const registration = await navigator.serviceWorker.ready;
  return (await registration.getNotifications(tag ? { tag } : {})).map((n) => ({
    title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction,
    silent: n.silent, icon: n.icon, badge: n.badge, data: n.data,
    actions: n.actions.map((a) => ({ action: a.action, title: a.title })),
  }));
}"""


def wait_until(page: Page, expression: str) -> None:
    """Poll a JavaScript expression until it is true. Not page.wait_for_function: its polling
    evaluates a string, which the page's Content-Security-Policy (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while not page.evaluate(f"() => Boolean({expression})"):
        assert time.monotonic() < deadline, f"never true: {expression}"
        page.wait_for_timeout(100)


def notifications(page: Page, tag: str | None = None) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = page.evaluate(NOTIFICATIONS, tag)
    return shown


def wait_for_notification(
    page: Page, tag: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while True:
        shown = notifications(page, tag)
        if len(shown) == 1 and check(shown[0]):
            return shown[0]
        assert time.monotonic() < deadline, f"notification {tag}: {shown}"
        page.wait_for_timeout(100)


def pushed(
    service: LocalPushService, subscription: BrowserSubscription, kind: str
) -> dict[str, Any]:
    """The decrypted payload of the first accepted push of this type to the subscription."""

    def of_kind(request: PushRequest) -> bool:
        return request.payload is not None and request.payload.get("type") == kind

    (request,) = service.wait_for_accepted(subscription, 1, PUSH_TIMEOUT_S, of_kind)
    assert request.payload is not None
    return request.payload


def claim_through_the_page(page: Page, device: Device) -> str:  # noqa: F811
    device.online()
    page.locator("#claim summary").click()
    page.get_by_label("Claim code").fill(device.claim_code)
    page.get_by_role("button", name="Add", exact=True).click()
    card = f'.device[data-device-id="{device.device_id}"]'
    expect(page.locator(f"{card} h3")).to_have_text(device.device_id)
    return card


# --- the tests ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_cry_reaches_the_locked_phone_and_is_acknowledged_from_the_notification(
    push_server: Server,
    push_service: LocalPushService,
    vapid: VapidKeyPair,
    device: Device,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    subscription = push_service.subscribe()
    email = new_email("eve")
    origin = push_server.url
    with app_window(browser, origin, notifications=True, subscription=subscription) as page:
        port = PushPort(page.context, page)
        register_through_the_page(page, origin, "Eve", email)
        card = claim_through_the_page(page, device)
        api = Parent(origin, email)

        # The service worker covers the whole app.
        assert port.registration_id(f"{origin}/")
        scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
        assert scope == f"{origin}/"

        # Alarms when locked: off until the parent turns them on.
        state = page.locator("#push-state")
        expect(state).to_have_attribute("data-state", "off")
        expect(page.locator("#push-hint")).to_be_hidden()  # permission is granted already
        page.get_by_role("button", name="Turn on").click()
        expect(state).to_have_attribute("data-state", "on")
        expect(page.locator("#push-detail")).to_contain_text("when it is locked")
        expect(page.get_by_role("button", name="Turn off")).to_be_visible()
        assert page.evaluate("window.standInSubscribedWith") == vapid.public_key
        (registered,) = api.get("/push/subscriptions")
        assert registered["endpoint_host"] == "127.0.0.1"
        assert registered["label"].startswith("Chrome on ")
        screenshot(page, "6-alarms-when-locked-on-phone")

        # The baby cries: the server pushes the alarm; the phone's worker shows it.
        wait_for_reading(page, device, card, 20.5)
        device.cry()
        alarm = pushed(push_service, subscription, "alert")
        alert_id = alarm["alert"]["id"]
        tag = f"alert-{alert_id}"
        assert alarm["tag"] == tag
        assert alarm["alert"]["needs_ack"] is True
        shown = port.push_until_shown(origin, alarm, tag, lambda n: n["title"] == "Baby is crying")
        assert shown["body"] == alarm["body"]
        assert shown["actions"] == [{"action": "ack", "title": "Acknowledge"}]
        assert shown["requireInteraction"] is True
        assert shown["silent"] is False
        assert shown["icon"] == f"{origin}/dashboard/icon-192.png"
        assert shown["data"]["url"] == f"/?alert={alert_id}"
        # The open page rings too (the WebSocket), until someone takes the alarm.
        expect(page.locator("#alarm")).to_be_visible()

        # "Acknowledge" on the notification: the worker's own click handler, as the browser
        # calls it for that button, against the real POST /push/ack.
        (worker,) = page.context.service_workers
        outcome = worker.evaluate(
            """async (tag) => {
              const [notification] = await self.registration.getNotifications({ tag });
              return handleClick(notification, "ack");
            }""",
            tag,
        )
        assert outcome == "acknowledged"
        taken = next(a for a in api.get("/alerts") if a["id"] == alert_id)
        assert taken["acknowledged_at"] is not None
        assert taken["acknowledged_by"] == page.evaluate(
            "JSON.parse(sessionStorage.getItem('nursery.session')).user.id"
        )
        deliveries = api.get(f"/alerts/{alert_id}/deliveries")
        from_here = [d for d in deliveries if d["subscription_id"] == registered["id"]]
        assert any(d["acknowledged_at"] for d in from_here if d["purpose"] == "alert"), deliveries
        here = wait_for_notification(page, tag, lambda n: n["title"] == "Acknowledged")
        assert here["actions"] == []
        assert here["silent"] is True
        # Every screen is told (ALERT_ACKNOWLEDGED): the page stops ringing.
        expect(page.locator("#alarm")).to_be_hidden(timeout=LIVE_TIMEOUT_MS)

        # The server's "acknowledged" push replaces the notification with who took it.
        acknowledged = pushed(push_service, subscription, "acknowledged")
        assert acknowledged["tag"] == tag
        # Who, and when in the phone's own time zone and language (the server writes UTC).
        assert acknowledged["body"].endswith(" UTC")
        at = page.evaluate(
            """(iso) => new Date(iso).toLocaleTimeString(undefined,
                 { hour: "2-digit", minute: "2-digit" })""",
            acknowledged["alert"]["acknowledged_at"],
        )
        final = port.push_until_shown(
            origin, acknowledged, tag, lambda n: n["body"] == f"Eve took it at {at}"
        )
        assert final["title"] == "Acknowledged"
        assert final["actions"] == []
        # This phone's own "Acknowledge" had said so too, before the push came.
        assert here["body"] == f"You took it at {at}."

        # Tapping the notification shows its alert in the open app: highlighted, in view.
        item = page.locator(f'.alert-item[data-alert-id="{alert_id}"]')
        expect(item).not_to_have_attribute("data-focused", "true")
        outcome = worker.evaluate(
            """async (tag) => {
              const [notification] = await self.registration.getNotifications({ tag });
              return handleClick(notification, "");
            }""",
            tag,
        )
        assert outcome == "opened"
        expect(item).to_have_attribute("data-focused", "true")
        expect(item).to_be_in_viewport()

        # Turn off: the server forgets this browser, which unsubscribes.
        page.get_by_role("button", name="Turn off").click()
        expect(state).to_have_attribute("data-state", "off")
        assert api.get("/push/subscriptions") == []
        assert page.evaluate("window.standInUnsubscribed") is True

        # On again, then "Sign out": leaving this device ends its alarms too.
        page.evaluate("window.standInUnsubscribed = false")
        page.get_by_role("button", name="Turn on").click()
        expect(state).to_have_attribute("data-state", "on")
        assert len(api.get("/push/subscriptions")) == 1
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#auth-view")).to_be_visible()
        assert api.get("/push/subscriptions") == []
        assert page.evaluate("window.standInUnsubscribed") is True

        # The app opened for a notification (no window was open) shows its alert too: signed
        # out, after signing in; signed in, at once. The address is plain afterwards.
        sign_in_through_the_page(page, f"{origin}/?alert={alert_id}", email)
        expect(item).to_have_attribute("data-focused", "true")
        assert page.url == f"{origin}/"
        page.goto(origin)
        expect(page.locator("#dashboard-view")).to_be_visible()
        expect(item).to_be_visible()
        expect(item).not_to_have_attribute("data-focused", "true")
        page.goto(f"{origin}/?alert={alert_id}")
        expect(item).to_have_attribute("data-focused", "true")
        assert page.url == f"{origin}/"


@pytest.mark.slow
def test_the_worker_shows_every_payload_and_replaces_an_alarm_when_taken(
    push_server: Server,
    browser: Browser,  # noqa: F811
) -> None:
    """Payloads in the spec's shape (docs/api.md) straight into the worker: a sick alarm, a
    notice, an unreadable push (still shown: Chrome requires it), and an "acknowledged"."""
    origin = push_server.url
    alert = {
        "id": 9001,
        "kind": "CRY_DETECTED",
        "device_id": "nursery-x",
        "time": "2026-12-07T03:12:00Z",
        "needs_ack": True,
        "sick_detected": True,
        "escalation_level": 1,
    }
    sick = {
        "v": 1,
        "type": "alert",
        "tag": "alert-9001",
        "title": "Still unanswered: Baby may be sick: crying with fever",
        "body": "Crying with a fever of 38.4 °C",
        "alert": alert,
        "ack": {"url": "/push/ack", "token": "not-a-real-token"},
        "url": "/?alert=9001",
    }
    notice = {
        **sick,
        "tag": "alert-9002",
        "url": "/?alert=9002",
        "title": "Room climate out of range",
        "body": "24.1 °C",
        "alert": {
            **alert,
            "id": 9002,
            "kind": "CLIMATE_OUT_OF_RANGE",
            "needs_ack": False,
            "sick_detected": False,
        },
    }
    del notice["ack"]
    with app_window(browser, origin, notifications=True) as page:
        port = PushPort(page.context, page)
        page.goto(origin)
        shown = port.push_until_shown(origin, sick, "alert-9001", lambda n: True)
        assert shown["title"] == sick["title"]
        assert shown["silent"] is False
        assert shown["requireInteraction"] is True
        assert shown["actions"] == [{"action": "ack", "title": "Acknowledge"}]

        quiet = port.push_until_shown(origin, notice, "alert-9002", lambda n: True)
        assert quiet["silent"] is True
        assert quiet["requireInteraction"] is False
        assert quiet["actions"] == []

        # "null": not a payload at all
        unreadable = port.push_until_shown(origin, None, "nursery", lambda n: True)
        assert unreadable["title"] == "Nursery"

        # A refused token (this one is made up): the alarm stays, the app is opened instead.
        (worker,) = page.context.service_workers
        outcome = worker.evaluate(
            """async (tag) => {
              const [notification] = await self.registration.getNotifications({ tag });
              return handleClick(notification, "ack");
            }""",
            "alert-9001",
        )
        assert outcome == "ack-failed"
        assert notifications(page, "alert-9001")[0]["title"] == sick["title"]

        taken = port.push_until_shown(
            origin,
            {**sick, "type": "acknowledged", "title": "Acknowledged", "body": "Ann took it"},
            "alert-9001",
            lambda n: n["title"] == "Acknowledged",
        )
        assert taken["body"] == "Ann took it"
        assert taken["silent"] is True
        assert taken["actions"] == []
        assert len(notifications(page)) == 3  # replaced, not added

        # A plain click closes the notification and tells the open page (which fetches the
        # alerts again when signed in); focusing it needs a real click, which cannot be made.
        page.evaluate(
            """() => navigator.serviceWorker.addEventListener("message", (event) => {
              window.workerSaid = event.data;
            })"""
        )
        outcome = worker.evaluate(
            """async (tag) => {
              const [notification] = await self.registration.getNotifications({ tag });
              return handleClick(notification, "");
            }""",
            "alert-9002",
        )
        assert outcome == "opened"
        assert notifications(page, "alert-9002") == []
        wait_until(page, "window.workerSaid !== undefined")
        assert page.evaluate("window.workerSaid") == {
            "type": "notification-opened",
            "url": f"{origin}/?alert=9002",
        }


@pytest.mark.slow
def test_the_dashboard_is_an_installable_app(
    push_server: Server,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    """What Chromium itself says: the manifest parses without errors and nothing stands in the
    way of installing (checked in a normal profile: an incognito one is never installable)."""
    origin = push_server.url
    context = browser.browser_type.launch_persistent_context(
        tmp_path / "profile",
        executable_path=str(CHROMIUM),
        headless=True,
        viewport=PHONE,
    )
    try:
        page = context.pages[0] if context.pages else context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(origin)
        expect(page.locator("#auth-view")).to_be_visible()
        wait_until(page, "navigator.serviceWorker.controller !== null")
        cdp = page.context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["url"] == f"{origin}/manifest.webmanifest"
        assert manifest["errors"] == []
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        worker = page.evaluate(
            "async () => (await navigator.serviceWorker.getRegistration('/')).active.scriptURL"
        )
        assert worker == f"{origin}/sw.js"
        assert errors == []
    finally:
        context.close()


@pytest.mark.slow
def test_the_panel_says_what_the_browser_and_the_server_allow(
    push_server: Server,
    server: Server,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    # Permission not yet asked: the one-time hint after sign-in; the browser says no (headless
    # Chromium answers a prompt nobody can see with "denied"): blocked.
    with app_window(browser, push_server.url, notifications=False) as page:
        register_through_the_page(page, push_server.url, "Fay", new_email("fay"))
        hint = page.locator("#push-hint")
        expect(hint).to_be_visible()
        expect(page.locator("#push-state")).to_have_attribute("data-state", "off")
        screenshot(page, "7-alarms-hint-phone")
        hint.get_by_role("button", name="Turn on").click()
        expect(hint).to_be_hidden()
        expect(page.locator("#push-state")).to_have_attribute("data-state", "blocked")
        expect(page.locator("#push-detail")).to_contain_text("Blocked by the browser")
        expect(page.get_by_role("button", name="Turn on")).to_be_hidden()
        # The browser remembers: still blocked after a reload, and no hint.
        page.reload()
        expect(page.locator("#push-state")).to_have_attribute("data-state", "blocked")
        expect(hint).to_be_hidden()

    # Allowed, but this browser cannot subscribe (Chromium has no Push API in an incognito
    # profile, which a Playwright context is, and logs so): the page says so.
    incognito = ("does not support the Push API in incognito mode",)
    with app_window(
        browser, push_server.url, notifications=True, expected_errors=incognito
    ) as page:
        register_through_the_page(page, push_server.url, "Gus", new_email("gus"))
        page.get_by_role("button", name="Turn on").click()
        expect(page.locator("#push-error")).to_contain_text("This browser could not subscribe")
        expect(page.locator("#push-state")).to_have_attribute("data-state", "off")

    # A server without push configured: the panel says so and offers nothing.
    with app_window(browser, server.url, notifications=True) as page:
        register_through_the_page(page, server.url, "Hal", new_email("hal"))
        expect(page.locator("#push-state")).to_have_attribute("data-state", "server-off")
        expect(page.locator("#push-detail")).to_contain_text("does not send push alarms")
        expect(page.get_by_role("button", name="Turn on")).to_be_hidden()
        expect(page.locator("#push-hint")).to_be_hidden()
