// One card per nursery device: presence, the newest reading against the safe ranges, and - for
// its owner - settings and sharing. Cards are built once and updated in place, so a reading
// arriving every few seconds never resets a form someone is typing in.

import { ApiError } from "./api.js";
import { ignoreListSummary } from "./not_a_cry.js";
import { formatTime, soundInWords } from "./when.js";

const field = (root, name) => root.querySelector(`[data-field="${name}"]`);
const role = (root, name) => root.querySelector(`[data-role="${name}"]`);

export function formatAgo(time) {
  const seconds = Math.round((Date.now() - time.getTime()) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 90 * 60) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return formatTime(time);
}

// The settings a nursery runs with: what its owner set, else the server's defaults.
export function effectiveSettings(device, defaults) {
  const nursery = { ...defaults.nursery, ...device.nursery_settings };
  const sensitivity = device.device_settings.cry_sensitivity ?? defaults.device.cry_sensitivity.default;
  return { nursery, sensitivity };
}

// Whether the monitor confirmed the device settings it was sent (its reported config).
function describeReported(device) {
  if (device.reported_revision === null) {
    return Object.keys(device.device_settings).length ? "The monitor has not confirmed its settings yet." : "";
  }
  if (device.reported_revision !== device.device_settings_revision) {
    return "Waiting for the monitor to confirm the latest settings.";
  }
  return device.reported_accepted
    ? "The monitor runs these settings."
    : `The monitor refused these settings: ${device.reported_error}`;
}

export class DeviceCard {
  // api: the Session; defaults: /dashboard/defaults.json; onChanged(device) after a save;
  // onIgnoreListChanged(device_id) after its sounds to ignore were cleared here.
  constructor(template, device, { api, defaults, onChanged, onIgnoreListChanged = () => {} }) {
    this.api = api;
    this.defaults = defaults;
    this.onChanged = onChanged;
    this.onIgnoreListChanged = onIgnoreListChanged;
    this.root = template.content.firstElementChild.cloneNode(true);
    this.root.dataset.deviceId = device.device_id;
    this.reading = null;
    this.wireSettings();
    this.wireSharing();
    this.wireIgnoreList();
    this.update(device);
  }

  get name() {
    return this.device.name || this.device.device_id;
  }

  update(device) {
    this.device = device;
    const owner = device.role === "owner";
    field(this.root, "name").textContent = this.name;
    const presence = field(this.root, "presence");
    presence.textContent = device.online ? "online" : "offline";
    presence.dataset.online = String(device.online);
    this.root.classList.toggle("offline", !device.online);
    role(this.root, "settings").hidden = !owner;
    role(this.root, "invite-form").hidden = !owner;
    const { nursery } = effectiveSettings(device, this.defaults);
    field(this.root, "temperature-range").textContent =
      `safe ${nursery.temperature_min_c}–${nursery.temperature_max_c} °C`;
    field(this.root, "humidity-range").textContent = `safe ${nursery.humidity_min_pct}–${nursery.humidity_max_pct} %`;
    const form = role(this.root, "settings-form");
    if (!role(this.root, "settings").open) this.fillSettings(form);
    field(this.root, "reported").textContent = owner ? describeReported(device) : "";
    this.showIgnoreList();
    this.refreshTimes();
    this.showReading(this.reading);
  }

  // The nursery's "not a cry" list changed (a mark, an undo, a clear): `list` as the API
  // answered it.
  updateIgnoreList(list) {
    const { delivery: _delivery, ...ignoreList } = list;
    this.device = { ...this.device, ignore_list: ignoreList };
    this.showIgnoreList();
  }

  showIgnoreList() {
    const summary = ignoreListSummary(this.device.ignore_list, formatTime);
    role(this.root, "ignore-list").hidden = !summary.shown;
    if (!summary.shown) return;
    field(this.root, "ignore-list-text").textContent = summary.text;
    field(this.root, "ignore-list-note").textContent = summary.note;
    role(this.root, "ignore-clear").hidden = !summary.clearable;
  }

  // Any member may clear it: the monitor alerts on every cry again.
  wireIgnoreList() {
    const clear = role(this.root, "ignore-clear");
    clear.addEventListener("click", async () => {
      clear.disabled = true;
      try {
        const answer = await this.api.delete(`/devices/${encodeURIComponent(this.device.device_id)}/ignored-sounds`);
        this.updateIgnoreList(answer);
        this.onIgnoreListChanged(this.device.device_id);
      } catch (error) {
        field(this.root, "ignore-list-note").textContent = `Not cleared: ${error.message}`;
      } finally {
        clear.disabled = false;
      }
    });
  }

  // reading: {temperature, humidity, sound_dbfs_avg, sound_dbfs_max, time} - any may be null.
  showReading(reading) {
    if (!reading) return;
    this.reading = { ...this.reading, ...reading };
    const { nursery } = effectiveSettings(this.device, this.defaults);
    const show = (name, value, low, high) => {
      const element = field(this.root, name);
      const known = value !== null && value !== undefined;
      element.textContent = known ? value.toFixed(1) : "–";
      const outside = known && low !== undefined && (value < low || value > high);
      element.closest(".reading").classList.toggle("out", Boolean(outside));
    };
    show("temperature", this.reading.temperature, nursery.temperature_min_c, nursery.temperature_max_c);
    show("humidity", this.reading.humidity, nursery.humidity_min_pct, nursery.humidity_max_pct);
    const average = this.reading.sound_dbfs_avg;
    const peak = this.reading.sound_dbfs_max;
    const known = (value) => value !== null && value !== undefined;
    const sound = field(this.root, "sound");
    sound.textContent = known(average) ? soundInWords(average) : "–";
    // The measured levels stay within reach (a long press or hover) for whoever wants them.
    sound.title = [known(average) ? `average ${average.toFixed(1)} dBFS` : "", known(peak) ? `peak ${peak.toFixed(1)} dBFS` : ""]
      .filter(Boolean)
      .join(", ");
    const louder = known(peak) && (!known(average) || soundInWords(peak) !== soundInWords(average));
    field(this.root, "sound-peak").textContent = louder ? `at times: ${soundInWords(peak).toLowerCase()}` : "";
    this.refreshTimes();
  }

  refreshTimes() {
    const seen = this.device.last_seen ? `last seen ${formatAgo(new Date(this.device.last_seen))}` : "never seen";
    field(this.root, "last-seen").textContent = seen;
    field(this.root, "reading-time").textContent = this.reading && this.reading.time
      ? `reading of ${formatTime(this.reading.time)}`
      : "no reading yet";
  }

  fillSettings(form) {
    const { nursery, sensitivity } = effectiveSettings(this.device, this.defaults);
    const limits = this.defaults.device.cry_sensitivity;
    Object.assign(form.elements.cry_sensitivity, { min: limits.minimum, max: limits.maximum, value: sensitivity });
    field(form, "sensitivity-value").textContent = Number(sensitivity).toFixed(2);
    for (const key of ["temperature_min_c", "temperature_max_c", "humidity_min_pct", "humidity_max_pct"]) {
      form.elements[key].value = nursery[key];
    }
  }

  wireSettings() {
    const details = role(this.root, "settings");
    const form = role(this.root, "settings-form");
    const status = field(form, "settings-status");
    details.addEventListener("toggle", () => {
      if (details.open) this.fillSettings(form);
    });
    form.elements.cry_sensitivity.addEventListener("input", (event) => {
      field(form, "sensitivity-value").textContent = Number(event.target.value).toFixed(2);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { nursery, sensitivity } = effectiveSettings(this.device, this.defaults);
      const entered = {};
      for (const key of ["temperature_min_c", "temperature_max_c", "humidity_min_pct", "humidity_max_pct"]) {
        entered[key] = Number(form.elements[key].value);
      }
      const newSensitivity = Number(form.elements.cry_sensitivity.value);
      // A part that is sent replaces the stored one, so send all of it; send only changed parts
      // (device settings sent are pushed to the monitor as a new revision).
      const body = {};
      if (Object.entries(entered).some(([key, value]) => value !== nursery[key])) {
        body.nursery = { ...this.device.nursery_settings, ...entered };
      }
      if (newSensitivity !== sensitivity) {
        body.device = { ...this.device.device_settings, cry_sensitivity: newSensitivity };
      }
      if (!body.nursery && !body.device) {
        status.textContent = "Nothing changed.";
        return;
      }
      status.textContent = "Saving…";
      try {
        const saved = await this.api.put(`/devices/${encodeURIComponent(this.device.device_id)}/settings`, body);
        const delivery = {
          sent: "Saved and sent to the monitor.",
          queued: "Saved; the monitor gets it as soon as the server reaches the broker.",
          not_configured: "Saved; this server does not push settings to monitors.",
          unchanged: "Saved.",
        };
        status.textContent = delivery[saved.delivery] || "Saved.";
        this.onChanged(saved);
      } catch (error) {
        status.textContent = `Not saved: ${error.message}`;
      }
    });
  }

  wireSharing() {
    const details = role(this.root, "sharing");
    const status = field(this.root, "sharing-status");
    const invite = role(this.root, "invite-form");
    details.addEventListener("toggle", () => {
      if (details.open) this.loadCaregivers().catch((error) => (status.textContent = error.message));
    });
    invite.addEventListener("submit", async (event) => {
      event.preventDefault();
      const email = invite.elements.email.value.trim();
      if (!email) return;
      try {
        const answer = await this.api.post(`/devices/${encodeURIComponent(this.device.device_id)}/caregivers`, { email });
        status.textContent = answer.detail;
        invite.reset();
        await this.loadCaregivers();
      } catch (error) {
        status.textContent = `Not invited: ${error.message}`;
      }
    });
  }

  async loadCaregivers() {
    const id = encodeURIComponent(this.device.device_id);
    const people = await this.api.get(`/devices/${id}/caregivers`);
    const list = field(this.root, "caregivers");
    const template = document.getElementById("caregiver-template");
    list.replaceChildren(
      ...people.map((person) => {
        const item = template.content.firstElementChild.cloneNode(true);
        item.dataset.userId = String(person.user_id);
        field(item, "who").textContent = person.name ? `${person.name} <${person.email}>` : person.email;
        field(item, "role").textContent = person.role;
        const remove = role(item, "remove");
        remove.hidden = this.device.role !== "owner" || person.role === "owner";
        remove.addEventListener("click", async () => {
          try {
            await this.api.delete(`/devices/${id}/caregivers/${person.user_id}`);
            field(this.root, "sharing-status").textContent = `${person.email} no longer has access.`;
            await this.loadCaregivers();
          } catch (error) {
            field(this.root, "sharing-status").textContent =
              error instanceof ApiError ? `Not removed: ${error.message}` : String(error);
          }
        });
        return item;
      }),
    );
  }
}
