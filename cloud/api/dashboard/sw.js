// The dashboard's service worker, served at /sw.js so that it covers the whole app ("/"). It
// shows the server's Web Push alarms (payload: docs/api.md "Push notifications") while the phone
// is locked or the page closed, and acknowledges an alarm from the notification's button.
//
// It caches nothing and has no fetch handler: every request, the alerts above all, goes to the
// server as if there were no worker, so an alarm can never come from a stale copy.
//
// A classic script, not a module: module service workers are not in every browser that has Web
// Push. The logic lives in small functions the browser test calls (in the worker) and the Node
// test loads (tests/unit/test_dashboard_service_worker.py); the listeners only hand over to them.

"use strict";

const ACK_ACTION = "ack";
const ICON = "/dashboard/icon-192.png";
const BADGE = "/dashboard/badge-96.png";
// A push that cannot be read still shows something: Chrome requires a visible notification for
// every push (userVisibleOnly) and a parent should look rather than miss an alarm.
const FALLBACK = {
  v: 1,
  type: "unknown",
  tag: "nursery",
  title: "Nursery",
  body: "Something happened in the nursery: open the app to see it.",
  url: "/",
};
const SICK_VIBRATION = [400, 200, 400, 200, 400];
const ALARM_VIBRATION = [200, 100, 200];

// --- pure functions: payload -> what to show --------------------------------------------------

// The payload as an object with the fields the worker relies on, whatever arrived.
function readPayload(text) {
  let payload;
  try {
    payload = JSON.parse(text);
  } catch {
    return { ...FALLBACK };
  }
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return { ...FALLBACK };
  const textOr = (value, fallback) => (typeof value === "string" && value ? value : fallback);
  const alert = payload.alert && typeof payload.alert === "object" ? payload.alert : null;
  return {
    ...payload,
    type: textOr(payload.type, "unknown"),
    tag: textOr(payload.tag, alert && alert.id !== undefined ? `alert-${alert.id}` : FALLBACK.tag),
    title: textOr(payload.title, FALLBACK.title),
    body: typeof payload.body === "string" ? payload.body : "",
    alert,
    url: appPath(payload.url),
  };
}

// A path in this app: whatever the payload says, a click (or the acknowledge request, which
// carries the token) never leaves the site. Resolved as the browser will resolve it - which
// reads "/\\evil.example" as "//evil.example" and drops tabs - and kept only when it stays on
// this origin; the path returned never starts with "//" (that would name another host).
function appPath(url) {
  if (typeof url !== "string") return "/";
  let resolved;
  try {
    resolved = new URL(url, self.location.origin);
  } catch {
    return "/";
  }
  if (resolved.origin !== self.location.origin) return "/";
  const path = `${resolved.pathname}${resolved.search}${resolved.hash}`;
  return path.startsWith("/") && !path.startsWith("//") ? path : "/";
}

// An alarm is a notice that must wake someone: it has to be acknowledged, or the baby may be sick.
// The device's test alert rings like one: it is how a parent checks that alarms wake this phone.
function isAlarm(payload) {
  const alert = payload.alert;
  return Boolean(alert && (alert.needs_ack || alert.sick_detected || alert.kind === "TEST_ALERT"));
}

// "14:12" (or "2:12 PM") in the phone's language and time zone; locale and timeZone are for the
// tests. Null when the time cannot be read.
function localTime(iso, locale = undefined, timeZone = undefined) {
  const time = typeof iso === "string" ? Date.parse(iso) : NaN;
  if (!Number.isFinite(time)) return null;
  return new Date(time).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", timeZone });
}

// The acknowledgement's text: who took it, at the phone's own time. The server writes the body in
// UTC (it does not know the phone's zone); that stays when the payload has no name field or time.
function takenText(payload) {
  const at = localTime(payload.alert && payload.alert.acknowledged_at);
  if (at === null || !("taken_by" in payload)) return payload.body;
  const name = typeof payload.taken_by === "string" && payload.taken_by ? payload.taken_by : null;
  return `${name ? `${name} took it` : "Taken"} at ${at}`;
}

// showNotification's arguments for a payload ("alert", "acknowledged" or unreadable).
function notificationFor(payload) {
  if (payload.type === "acknowledged") return quietNotification(payload, payload.title, takenText(payload));
  const alert = payload.alert || {};
  const needsAck = Boolean(alert.needs_ack);
  const alarm = isAlarm(payload);
  const canAck = needsAck && Boolean(payload.ack && payload.ack.url && payload.ack.token);
  const options = {
    body: payload.body,
    tag: payload.tag,
    // An escalation of the same alert reuses the tag: it replaces the notification and rings again.
    renotify: true,
    requireInteraction: needsAck,
    silent: !alarm,
    icon: ICON,
    badge: BADGE,
    data: payload,
    actions: canAck ? [{ action: ACK_ACTION, title: "Acknowledge" }] : [],
  };
  if (alarm) options.vibrate = alert.sick_detected ? SICK_VIBRATION : ALARM_VIBRATION;
  const time = Date.parse(alert.time);
  if (Number.isFinite(time)) options.timestamp = time;
  return { title: payload.title, options };
}

// The alarm was taken: the same tag, so it replaces the ringing notification, and silent.
function quietNotification(payload, title, body) {
  return {
    title,
    options: {
      body,
      tag: payload.tag,
      renotify: false,
      requireInteraction: false,
      silent: true,
      icon: ICON,
      badge: BADGE,
      data: { ...payload, type: "acknowledged", ack: undefined },
      actions: [],
    },
  };
}

// What POST /push/ack answered, for the notification: when it was taken and, when someone else
// had taken it first, by whom (the X-Acknowledged-By-Name header, percent-encoded; "" for an
// account without a name). takenBy null: this phone's user took it.
function readAckAnswer(alert, takenByHeader) {
  let takenBy = null;
  if (typeof takenByHeader === "string") {
    try {
      takenBy = decodeURIComponent(takenByHeader);
    } catch {
      takenBy = "";
    }
  }
  const at = alert && typeof alert.acknowledged_at === "string" ? alert.acknowledged_at : null;
  return { takenBy, at };
}

// After this phone's "Acknowledge" was answered (the server's "acknowledged" push follows when it
// took the alarm): "You took it" - or who had, when someone was quicker.
function acknowledgedHere(payload, answer = { takenBy: null, at: null }) {
  const at = localTime(answer.at);
  const when = at ? ` at ${at}` : "";
  if (answer.takenBy === null) return quietNotification(payload, "Acknowledged", `You took it${when}.`);
  const who = answer.takenBy || "another caregiver";
  return quietNotification(payload, "Acknowledged", `Already taken by ${who}${when}.`);
}

// The request the "Acknowledge" button sends: no access token (a worker has none), the
// notification's own short-lived token instead (POST /push/ack).
function ackRequest(payload) {
  return {
    url: appPath(payload.ack.url),
    init: {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: payload.ack.token }),
      cache: "no-store",
      credentials: "omit",
    },
  };
}

// --- what the listeners do --------------------------------------------------------------------

async function showPush(text) {
  const { title, options } = notificationFor(readPayload(text));
  await self.registration.showNotification(title, options);
}

// POST /push/ack; what it answered when the alert is acknowledged now (readAckAnswer), else null.
async function acknowledge(payload) {
  const { url, init } = ackRequest(payload);
  try {
    const response = await fetch(new URL(url, self.location.origin).href, init);
    if (!response.ok) return null;
    const alert = await response.json().catch(() => null);
    return readAckAnswer(alert, response.headers.get("X-Acknowledged-By-Name"));
  } catch {
    return null; // offline, server restarting
  }
}

// "ack": acknowledge and show "Acknowledged"; if that fails, open the app, where the alarm can be
// taken. A plain click opens the app. Returns what happened, for the tests.
async function handleClick(notification, action) {
  const payload = readPayload(JSON.stringify(notification.data || {}));
  if (action === ACK_ACTION && payload.ack) {
    const answer = await acknowledge(payload);
    if (answer) {
      const { title, options } = acknowledgedHere(payload, answer);
      await self.registration.showNotification(title, options);
      return answer.takenBy === null ? "acknowledged" : "taken-already";
    }
    await openApp(payload.url);
    return "ack-failed";
  }
  notification.close();
  await openApp(payload.url);
  return "opened";
}

// Focus a window of the app that is open already (it fetches the alerts again), else open one.
async function openApp(path) {
  const target = new URL(appPath(path), self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).origin !== self.location.origin) continue;
    client.postMessage({ type: "notification-opened", url: target });
    try {
      return await client.focus();
    } catch {
      break; // not allowed without a click: open one instead
    }
  }
  try {
    return await self.clients.openWindow(target);
  } catch {
    return null; // allowed only while handling a click on the notification
  }
}

// The push service replaced the subscription (rare; Firefox does it, Chrome hardly ever). Subscribe
// again with the same server key; only a signed-in page can register it with the server (the
// worker has no access token), so open pages are told to, and a page does it on every sign-in.
async function renewSubscription(event) {
  let subscription = event.newSubscription || null;
  if (!subscription) {
    const old = event.oldSubscription;
    const key = (old && old.options && old.options.applicationServerKey) || (await serverKey());
    if (!key) return null;
    subscription = await self.registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: key,
    });
  }
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) client.postMessage({ type: "push-subscription-changed" });
  return subscription;
}

async function serverKey() {
  try {
    const response = await fetch("/push/config", { cache: "no-store", credentials: "omit" });
    const config = await response.json();
    return config.enabled ? config.application_server_key : null;
  } catch {
    return null;
  }
}

// --- listeners --------------------------------------------------------------------------------

// A new version takes over at once: the worker holds no state that an old page depends on.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  event.waitUntil(showPush(event.data ? event.data.text() : ""));
});

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(handleClick(event.notification, event.action));
});

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(renewSubscription(event).catch(() => null));
});
