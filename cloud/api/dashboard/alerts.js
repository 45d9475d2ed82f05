// The alert feed: GET /alerts on (re)connection, live additions from the WebSocket, and the
// caller's own read state (POST /alerts/read; other caregivers keep theirs).

import { heardText } from "./heard.js";
import { notACryView } from "./not_a_cry.js";
import { formatTime } from "./when.js";

const KIND_LABELS = {
  CRY_DETECTED: "Cry",
  CRY_IGNORED: "Ignored",
  CLIMATE_OUT_OF_RANGE: "Climate",
  CLIMATE_NORMAL: "Climate OK",
  DEVICE_OFFLINE: "Offline",
  DEVICE_ONLINE: "Online",
  TEST_ALERT: "Test",
  LOUD_SOUND: "Loud sound",
  DEVICE_FAULT: "Fault",
};
const MAX_SHOWN = 100;

// A WebSocket alert message in the shape GET /alerts returns.
export function alertFromMessage(message) {
  return {
    id: message.alert_id,
    device_id: message.device_id,
    kind: message.event,
    time: message.timestamp,
    message: message.message || message.event,
    sick_detected: Boolean(message.sick_detected),
    details: message.data || {},
    read: false,
  };
}

// The list after GET /alerts answered: the server's alerts (with their read state), plus any
// alert that arrived over the WebSocket after the server's answer was taken - its id is above
// every id in the answer (ids only grow). Without those, an alert that came in while the
// request was in flight vanished from the list while it rang and counted as unread.
export function mergeServerAlerts(current, answer) {
  const newestAnswered = answer.reduce((most, alert) => Math.max(most, alert.id), 0);
  const merged = new Map(answer.map((alert) => [alert.id, alert]));
  for (const alert of current) {
    if (alert.id > newestAnswered && !merged.has(alert.id)) merged.set(alert.id, alert);
  }
  return merged;
}

// The alert a tapped notification is about: "/?alert=42" (the push payload's url) -> 42; null
// for anything else.
export function alertFromUrl(url) {
  let raw;
  try {
    raw = new URL(url, "https://nursery.invalid").searchParams.get("alert");
  } catch {
    return null;
  }
  if (raw === null || !/^[1-9][0-9]{0,17}$/.test(raw)) return null;
  return Number(raw);
}

export class AlertList {
  // deviceName(id) names a device; onMarkRead(ids) marks alerts read on the server;
  // markedEpisodes(id) is the Set of episodes the device's nursery marked "not a cry" (null
  // when unknown); onNotACry(alert, action) makes a "Not a cry"/"Undo" button's API call.
  constructor({ list, empty, template, deviceName, onMarkRead, markedEpisodes = () => null, onNotACry = () => {} }) {
    Object.assign(this, { list, empty, template, deviceName, onMarkRead, markedEpisodes, onNotACry });
    this.alerts = new Map(); // id -> alert
    this.focused = null; // the alert a tapped notification was about, highlighted
  }

  // Highlight an alert and bring it into view; false when it is not in the list (too old).
  focus(id) {
    if (!this.alerts.has(id)) return false;
    this.focused = id;
    this.render();
    const item = this.list.querySelector(`[data-alert-id="${id}"]`);
    if (item) item.scrollIntoView({ block: "center" });
    return true;
  }

  // The server's newest alerts replace what is shown (they include anything missed offline),
  // keeping live ones newer than its answer (mergeServerAlerts).
  replace(alerts) {
    this.alerts = mergeServerAlerts(this.alerts.values(), alerts);
    this.render();
  }

  // Signed out: nothing of the last account stays on the page.
  clear() {
    this.focused = null;
    this.alerts = new Map();
    this.render();
  }

  // Returns false when the alert was already shown (a duplicate after a reconnection).
  add(alert) {
    if (this.alerts.has(alert.id)) return false;
    this.alerts.set(alert.id, alert);
    this.render();
    return true;
  }

  markedRead(ids) {
    for (const id of ids) {
      const alert = this.alerts.get(id);
      if (alert) alert.read = true;
    }
    this.render();
  }

  unreadIds() {
    return [...this.alerts.values()].filter((alert) => !alert.read).map((alert) => alert.id);
  }

  render() {
    const newest = [...this.alerts.values()]
      .sort((a, b) => new Date(b.time) - new Date(a.time) || b.id - a.id)
      .slice(0, MAX_SHOWN);
    this.list.replaceChildren(...newest.map((alert) => this.item(alert)));
    this.empty.hidden = newest.length > 0;
  }

  item(alert) {
    const item = this.template.content.firstElementChild.cloneNode(true);
    item.dataset.alertId = String(alert.id);
    item.dataset.kind = alert.kind;
    item.dataset.read = String(alert.read);
    if (alert.id === this.focused) item.dataset.focused = "true";
    item.classList.toggle("sick", alert.sick_detected);
    const field = (name) => item.querySelector(`[data-field="${name}"]`);
    field("kind").textContent = alert.sick_detected ? "May be sick" : KIND_LABELS[alert.kind] || alert.kind;
    field("message").textContent = alert.message;
    this.showNotACry(item, alert);
    const heard = field("heard");
    heard.textContent = heardText(alert.details);
    heard.hidden = !heard.textContent;
    field("where").textContent = alert.device_id ? this.deviceName(alert.device_id) : "App upload";
    const time = field("time");
    time.dateTime = alert.time;
    time.textContent = formatTime(new Date(alert.time));
    const button = item.querySelector("[data-role=mark-read]");
    button.hidden = alert.read;
    item.querySelector("[data-role=read-label]").hidden = !alert.read;
    button.addEventListener("click", () => this.onMarkRead([alert.id]));
    return item;
  }

  // A monitor's cry: "Not a cry", or "Marked not a cry · Undo". A cry the monitor ignored is
  // shown muted, in the viewer's date ("Ignored: like the sound you marked on 6 Dec 2026"),
  // with "Undo" while that mark stands.
  showNotACry(item, alert) {
    const view = notACryView(alert, alert.device_id ? this.markedEpisodes(alert.device_id) : null);
    item.dataset.notACry = view.state;
    const ignored = view.state === "ignored" || view.state === "ignored-undone";
    item.classList.toggle("ignored", ignored);
    // An ignored cry's own words replace the server's message (which names the UTC date).
    if (ignored) item.querySelector("[data-field=message]").textContent = view.text;
    const line = item.querySelector("[data-field=not-a-cry]");
    line.hidden = view.state === "none" || !view.action;
    item.querySelector("[data-field=not-a-cry-text]").textContent = ignored ? "" : view.text || "";
    const action = item.querySelector("[data-role=not-a-cry]");
    action.hidden = !view.action;
    action.textContent = view.label || "";
    if (view.action) {
      action.addEventListener("click", () => {
        action.disabled = true;
        this.onNotACry(alert, view.action);
      });
    }
  }
}
