// The dashboard's wiring: sign-in, the nursery cards, the chart, the alert feed and the alarm,
// all fed by the documented API (docs/api.md) and kept current by the WebSocket. Everything
// shown comes from the server; text is always set with textContent, never parsed as HTML.

import { Alarm } from "./alarm.js";
import { Session } from "./api.js";
import { AlertList, alertFromMessage, alertFromUrl } from "./alerts.js";
import { renderChart } from "./chart.js";
import { DeviceCard, effectiveSettings } from "./devices.js";
import { LiveFeed } from "./live.js";
import { markedEpisodes } from "./not_a_cry.js";
import { PushAlarms, registerWorker } from "./push.js";
import { formatTime } from "./when.js";

const $ = (id) => document.getElementById(id);
// Bucket widths keep both views near a hundred points: enough detail, light on a phone.
const RANGES = {
  "24h": { hours: 24, interval: "15 minutes", stepMs: 15 * 60_000 },
  "7d": { hours: 24 * 7, interval: "1 hour", stepMs: 60 * 60_000 },
};
// An unread cry this recent still sounds the alarm when the page (re)connects: it may have
// happened while the phone had no network.
const ALARM_WINDOW_MS = 10 * 60_000;
// Alerts that sound the alarm: a cry, and the device's loud-sound fallback for a cry its model
// missed (under a fan or white noise). Everything else is only listed.
const ALARM_KINDS = new Set(["CRY_DETECTED", "LOUD_SOUND"]);
const CHART_REFRESH_MS = 60_000;
const DEVICES_REFRESH_MS = 60_000;
const TIMES_REFRESH_MS = 30_000;
// Enough history to find the newest reading of each nursery on a page load.
const HISTORY_LIMIT = 200;

const session = new Session((reason) => leave(reason));
const alarm = new Alarm();
const cards = new Map(); // device_id -> DeviceCard
const alarmed = new Set(); // alerts that have sounded the alarm on this page (each only once)
const ringing = new Set(); // unread cry alerts the banner stands for
let defaults = null;
let feed = null;
let push = null; // PushAlarms: the "Alarms when this phone is locked" panel
let range = "24h";
let chart = null; // the last GET /health/timeseries answer and its range
let chartLoadedAt = 0;
let chartTimer = null;
let timers = [];
let unread = 0;
// The alert a tapped notification opened the app for ("/?alert=42"), shown once the alerts are
// loaded - after signing in, when the app had to be opened for it.
let pendingFocus = alertFromUrl(location.href);

const alerts = new AlertList({
  list: $("alerts"),
  empty: $("no-alerts"),
  template: $("alert-template"),
  deviceName: (id) => (cards.has(id) ? cards.get(id).name : id),
  onMarkRead: (ids) => markRead(ids).catch(report),
  markedEpisodes: (id) => (cards.has(id) ? markedEpisodes(cards.get(id).device.ignore_list) : null),
  onNotACry: (alert, action) => notACry(alert, action).catch((error) => {
    alerts.render(); // the button comes back
    report(error);
  }),
});

function report(error) {
  const notice = $("notice");
  notice.textContent = error.message || String(error);
  notice.hidden = false;
  clearTimeout(report.timer);
  report.timer = setTimeout(() => (notice.hidden = true), 8000);
}

// --- signing in and out ------------------------------------------------------------------

function showAuth(message = "") {
  $("dashboard-view").hidden = true;
  $("session-actions").hidden = true;
  $("auth-view").hidden = false;
  $("auth-error").textContent = message;
}

function showDashboard() {
  $("auth-view").hidden = true;
  $("dashboard-view").hidden = false;
  $("session-actions").hidden = false;
  const user = session.user;
  $("signed-in-as").textContent = `Signed in as ${user.name || user.email}`;
  let connectedBefore = false;
  feed = new LiveFeed({
    userId: user.id,
    token: () => session.accessToken(),
    onMessage,
    onState: showConnection,
    // The first connection comes with the initial load below; after a reconnection, fetch
    // what was missed (alerts, presence, readings).
    onConnected: () => {
      if (connectedBefore) loadAll().catch(report);
      connectedBefore = true;
    },
    onTokenRefused: () => session.refresh().catch(() => {}),
  });
  feed.start();
  loadAll().catch(report);
  push.start().catch(report);
  timers = [
    setInterval(() => cards.forEach((card) => card.refreshTimes()), TIMES_REFRESH_MS),
    setInterval(() => loadDevices().catch(report), DEVICES_REFRESH_MS),
  ];
}

// Tear the signed-in page down: the user signed out, or the sign-in ended (reason given).
function leave(reason) {
  if (feed) feed.stop();
  feed = null;
  push.stop();
  timers.forEach(clearInterval);
  alarm.stop();
  ringing.clear();
  $("alarm").hidden = true;
  cards.clear();
  $("devices").replaceChildren();
  alerts.clear();
  showAuth(reason);
}

function wireAuth() {
  const forms = { "sign-in": $("sign-in-form"), register: $("register-form") };
  document.querySelectorAll("[data-show]").forEach((button) =>
    button.addEventListener("click", () => {
      for (const [name, form] of Object.entries(forms)) form.hidden = name !== button.dataset.show;
      $("auth-error").textContent = "";
    }),
  );
  const submit = (form, action) =>
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      $("auth-error").textContent = "";
      try {
        await action(form.elements);
        form.reset();
        showDashboard();
      } catch (error) {
        $("auth-error").textContent = error.message;
      } finally {
        button.disabled = false;
      }
    });
  submit(forms["sign-in"], (f) => session.signIn(f.email.value.trim(), f.password.value));
  submit(forms.register, (f) => session.register(f.name.value.trim(), f.email.value.trim(), f.password.value));
  $("sign-out").addEventListener("click", async () => {
    // Signing out of this device also ends its alarms (the server forgets the subscription);
    // a sign-in that ends by itself leaves them on.
    await push.forget().catch(() => {});
    leave("");
    await session.signOut();
  });
}

// --- data --------------------------------------------------------------------------------

async function loadAll() {
  await loadDevices();
  await Promise.all([loadReadings(), loadAlerts(), loadChart()]);
}

async function loadDevices() {
  const devices = await session.get("/devices");
  const seen = new Set();
  const marksBefore = marksShown();
  for (const device of devices) {
    seen.add(device.device_id);
    const card = cards.get(device.device_id);
    if (card) {
      card.update(device);
    } else {
      const created = new DeviceCard($("device-template"), device, {
        api: session,
        defaults,
        onChanged: (saved) => {
          created.update(saved);
          loadChart().catch(report); // the safe bands may have moved
        },
        onIgnoreListChanged: () => alerts.render(),
      });
      cards.set(device.device_id, created);
      $("devices").append(created.root);
    }
  }
  for (const [id, card] of cards) {
    if (!seen.has(id)) {
      card.root.remove();
      cards.delete(id);
    }
  }
  $("no-devices").hidden = cards.size > 0;
  // Another caregiver marked or undid a "not a cry": the alerts' buttons follow.
  if (marksShown() !== marksBefore) alerts.render();
}

// Every nursery's marked episodes, to tell whether the alerts' buttons need redrawing.
function marksShown() {
  return JSON.stringify([...cards].map(([id, card]) => [id, card.device.ignore_list?.revision ?? null]));
}

// "Not a cry" / "Undo" on an alert: the API answers the nursery's whole list, which the card
// and the alerts then show.
async function notACry(alert, action) {
  const answer = await session.request(action.method, action.path, action.method === "POST" ? {} : undefined);
  const card = cards.get(alert.device_id);
  if (card) card.updateIgnoreList(answer);
  alerts.render();
}

// At most one extra devices fetch per few seconds, however many readings arrive.
let devicesSoon = null;
function loadDevicesSoon() {
  devicesSoon ??= setTimeout(() => {
    devicesSoon = null;
    loadDevices().catch(report);
  }, 2_000);
}

// The newest stored reading of each nursery (the WebSocket brings the next ones).
async function loadReadings() {
  const records = await session.get(`/health/history?limit=${HISTORY_LIMIT}`);
  const found = new Set();
  for (const record of records) {
    if (record.source !== "device" || found.has(record.device_id) || !cards.has(record.device_id)) continue;
    found.add(record.device_id);
    const card = cards.get(record.device_id);
    const time = new Date(record.created_at);
    if (card.reading && card.reading.time >= time) continue; // a live one is newer
    card.showReading({ temperature: record.temperature, humidity: record.humidity, time });
  }
}

async function loadAlerts() {
  alerts.replace(await session.get("/alerts?limit=100"));
  for (const alert of alerts.alerts.values()) {
    const recent = Date.now() - new Date(alert.time).getTime() < ALARM_WINDOW_MS;
    if (ALARM_KINDS.has(alert.kind) && !alert.read && recent) raiseAlarm(alert);
  }
  showPendingFocus();
  await loadUnread();
}

// The tapped notification's alert: highlighted in the list and scrolled to (the alarm banner, if it
// still rings, stays on top). Done once: the address loses "?alert=" so a reload starts plainly.
function showPendingFocus() {
  if (pendingFocus === null) return;
  alerts.focus(pendingFocus);
  pendingFocus = null;
  if (alertFromUrl(location.href) !== null) history.replaceState(null, "", location.pathname);
}

async function loadUnread() {
  unread = (await session.get("/alerts/unread-count")).unread;
  const badge = $("unread-count");
  badge.textContent = `${unread} unread`;
  badge.hidden = unread === 0;
  updateTitle();
}

async function markRead(ids) {
  await session.post("/alerts/read", { alert_ids: ids });
  alerts.markedRead(ids);
  settleAlarm(ids);
  await loadUnread();
}

// The banner's button takes the alarm for everyone (POST /alerts/{id}/ack, docs/alarms.md):
// escalation stops and the other caregivers' phones stop ringing; it also marks it read here.
async function acknowledge(ids) {
  await Promise.all(ids.map((id) => session.post(`/alerts/${id}/ack`)));
  alerts.markedRead(ids);
  settleAlarm(ids);
  await loadUnread();
}

async function markAllRead() {
  await session.post("/alerts/read", {});
  const ids = [...alerts.alerts.keys()];
  alerts.markedRead(ids);
  settleAlarm(ids);
  await loadUnread();
}

// --- the chart ---------------------------------------------------------------------------

// The safe ranges to shade: only when every nursery has the same ones (the series is the
// average over all of them).
function bands() {
  const ranges = new Set(
    [...cards.values()].map((card) => {
      const { nursery } = effectiveSettings(card.device, defaults);
      return JSON.stringify({
        temperature: [nursery.temperature_min_c, nursery.temperature_max_c],
        humidity: [nursery.humidity_min_pct, nursery.humidity_max_pct],
      });
    }),
  );
  return ranges.size === 1 ? JSON.parse([...ranges][0]) : null;
}

async function loadChart() {
  clearTimeout(chartTimer);
  chartTimer = null;
  const { hours, interval, stepMs } = RANGES[range];
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3_600_000);
  const query = new URLSearchParams({ interval, start_date: from.toISOString(), end_date: to.toISOString() });
  const answer = await session.get(`/health/timeseries?${query}`);
  chart = { data: answer.data, from, to, stepMs };
  chartLoadedAt = Date.now();
  drawChart();
}

function drawChart() {
  if (!chart) return;
  const svg = $("chart");
  renderChart(svg, chart.data, { ...chart, bands: bands() });
  svg.dataset.range = range;
  svg.dataset.buckets = String(chart.data.length);
}

// Live readings move the chart too, at most once a minute.
function scheduleChart() {
  if (chartTimer) return;
  const wait = Math.max(0, chartLoadedAt + CHART_REFRESH_MS - Date.now());
  chartTimer = setTimeout(() => loadChart().catch(report), wait);
}

function wireChart() {
  document.querySelectorAll("[data-range]").forEach((button) =>
    button.addEventListener("click", () => {
      range = button.dataset.range;
      document.querySelectorAll("[data-range]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      loadChart().catch(report);
    }),
  );
  let pending = false;
  new ResizeObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      drawChart();
    });
  }).observe($("chart"));
}

// --- live messages -----------------------------------------------------------------------

function showConnection(state, seconds) {
  const pill = $("connection");
  pill.dataset.state = state;
  pill.textContent = { live: "live", connecting: "connecting…", reconnecting: `reconnecting in ${seconds} s` }[state];
}

function onMessage(message) {
  if (message.event === "HEARTBEAT") return;
  if (message.event === "READING") {
    const card = cards.get(message.device_id);
    if (!card) {
      loadDevices().catch(report); // a nursery shared with us since the page loaded
      return;
    }
    // A nursery shown offline is talking again: fetch its presence rather than wait.
    if (!card.device.online) loadDevicesSoon();
    card.device = { ...card.device, last_seen: message.timestamp };
    card.showReading({ ...message.data, time: new Date(message.timestamp) });
    scheduleChart();
    return;
  }
  // Another caregiver took the alarm (docs/alarms.md): this phone stops ringing; the alert
  // stays unread here until this caregiver reads it. Neither message is an alert of its own.
  if (message.event === "ALERT_ACKNOWLEDGED") {
    if (ringing.has(message.alert_id)) settleAlarm([message.alert_id]);
    return;
  }
  if (message.event === "ACK_RESULT") return;
  if (message.alert_id === undefined || message.alert_id === null) return;
  const alert = alertFromMessage(message);
  const isNew = alerts.add(alert);
  // Shown already: only an escalation (nobody acknowledged it yet) rings again.
  if (!isNew && !(message.escalation_level > 0)) return;
  if (isNew) loadUnread().catch(report);
  if (ALARM_KINDS.has(alert.kind)) raiseAlarm(alert);
  // The history's cry strip includes this cry now: redraw it rather than show "no cries"
  // under the cry alarm until the next minute's refresh.
  if (isNew && alert.kind === "CRY_DETECTED") loadChart().catch(report);
  if (alert.kind === "DEVICE_OFFLINE" || alert.kind === "DEVICE_ONLINE") loadDevices().catch(report);
}

// --- the alarm ---------------------------------------------------------------------------

function raiseAlarm(alert) {
  if (alarmed.has(alert.id)) return;
  alarmed.add(alert.id);
  ringing.add(alert.id);
  showAlarm(alert);
}

function showAlarm(latest) {
  const sick = [...ringing].some((id) => alerts.alerts.get(id)?.sick_detected);
  const kind = sick ? "sick" : "cry";
  const banner = $("alarm");
  banner.dataset.kind = kind;
  const titles = { CRY_DETECTED: "Baby is crying", LOUD_SOUND: "Loud sound in the nursery" };
  $("alarm-title").textContent = sick ? "Baby may be sick" : titles[latest.kind];
  const where = latest.device_id ? alerts.deviceName(latest.device_id) : "App upload";
  const time = formatTime(new Date(latest.time));
  const more = ringing.size > 1 ? ` · ${ringing.size} alerts` : "";
  const message = latest.message === $("alarm-title").textContent ? "" : `${latest.message} · `;
  $("alarm-detail").textContent = `${message}${where} · ${time}${more}`;
  $("alarm-sound-hint").hidden = alarm.enabled;
  banner.hidden = false;
  alarm.start(kind);
  updateTitle();
  if (navigator.vibrate) navigator.vibrate(sick ? [400, 200, 400, 200, 400] : [200, 100, 200]);
}

// Alerts were marked read: the alarm stops once none of its alerts is unread.
function settleAlarm(ids) {
  ids.forEach((id) => ringing.delete(id));
  if (ringing.size > 0) return;
  alarm.stop();
  $("alarm").hidden = true;
  updateTitle();
}

function wireSound() {
  const toggle = $("sound-toggle");
  toggle.addEventListener("click", async () => {
    try {
      if (alarm.enabled) await alarm.disable();
      else await alarm.enable();
    } catch (error) {
      report(new Error(`Sound cannot start in this browser: ${error.message}`));
    }
    toggle.setAttribute("aria-pressed", String(alarm.enabled));
    toggle.textContent = alarm.enabled ? "Sound on" : "Enable sound";
    $("alarm-sound-hint").hidden = alarm.enabled;
    if (alarm.enabled && !$("alarm").hidden) alarm.start($("alarm").dataset.kind);
  });
  $("alarm-ack").addEventListener("click", () => acknowledge([...ringing]).catch(report));
  $("mark-all-read").addEventListener("click", () => markAllRead().catch(report));
}

function updateTitle() {
  const alarmOn = !$("alarm").hidden;
  const prefix = alarmOn ? `⚠ ${$("alarm-title").textContent} – ` : unread ? `(${unread}) ` : "";
  document.title = `${prefix}Nursery`;
}

// --- claiming a device -------------------------------------------------------------------

function wireClaim() {
  const form = $("claim-form");
  const error = form.querySelector("[data-role=error]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const name = form.elements.name.value.trim();
    try {
      await session.post("/devices/claim", { claim_code: form.elements.claim_code.value.trim(), name: name || null });
      form.reset();
      $("claim").open = false;
      await loadAll();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
}

function wirePush() {
  push = new PushAlarms({
    api: session,
    worker: registerWorker(),
    elements: {
      state: $("push-state"),
      detail: $("push-detail"),
      on: $("push-on"),
      off: $("push-off"),
      error: $("push-error"),
      hint: $("push-hint"),
      hintOn: $("push-hint-on"),
      hintLater: $("push-hint-later"),
    },
    // A notification was tapped while this page was open: show what it was about (after
    // sign-in, if the sign-in has ended meanwhile).
    onOpened: (url) => {
      pendingFocus = alertFromUrl(url);
      if (session.user) loadAlerts().catch(report);
    },
  });
}

async function boot() {
  wirePush(); // first: the installed app needs its worker even before anyone signs in
  const response = await fetch("/dashboard/defaults.json");
  defaults = await response.json();
  wireAuth();
  wireChart();
  wireSound();
  wireClaim();
  if (session.user) showDashboard();
  else showAuth();
}

boot().catch((error) => showAuth(`The dashboard could not start: ${error.message}`));
