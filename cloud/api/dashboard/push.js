// Alarms when the phone is locked: the service worker (/sw.js) and a Web Push subscription
// registered with the server (docs/api.md "Push notifications"). The WebSocket only works while
// the page runs; a push reaches the phone when it is locked or the app closed.
//
// Permission is asked only when the parent taps "Turn on" (browsers ignore or block a prompt
// that no tap asked for). The subscription is registered again on every sign-in, so the
// account signed in last on this browser owns it, and a subscription the push service renewed
// reaches the server.

const HINT_KEY = "nursery.push-hint"; // "dismissed": the one-time hint after sign-in was answered

// What the panel says in each state; the buttons follow from the state.
export const STATES = {
  checking: { pill: "checking…", text: "" },
  on: {
    pill: "on",
    text: "On: alarms reach this device when it is locked or the app is closed.",
  },
  off: {
    pill: "off",
    text: "Off: alarms sound only while this page is open and in front.",
  },
  blocked: {
    pill: "blocked",
    text:
      "Blocked by the browser: allow notifications for this site in the browser's site " +
      "settings, then come back here.",
  },
  unsupported: {
    pill: "not supported",
    text: "This browser cannot show alarms when locked: keep this page open and in front.",
  },
  "ios-home-screen": {
    pill: "add to home screen",
    text:
      "iPhone and iPad: add Nursery to the home screen first (Share, then “Add to Home " +
      "Screen”), open it from there and turn alarms on. Needs iOS 16.4 or newer.",
  },
  "server-off": {
    pill: "not available",
    text: "This server does not send push alarms (its operator has not set them up).",
  },
};

// The state from what the browser and the server say; pure, so it can be tested anywhere.
export function pushState({ supported, iosBrowserTab, serverEnabled, permission, subscribed }) {
  if (iosBrowserTab) return "ios-home-screen";
  if (!supported) return "unsupported";
  if (!serverEnabled) return "server-off";
  if (permission === "denied") return "blocked";
  return permission === "granted" && subscribed ? "on" : "off";
}

// A name for this subscription in the account's list: "Chrome on Android".
export function deviceLabel(userAgent) {
  const ua = String(userAgent || "");
  const browser =
    (/Edg\//.test(ua) && "Edge") ||
    (/Firefox\//.test(ua) && "Firefox") ||
    (/SamsungBrowser\//.test(ua) && "Samsung Internet") ||
    (/(Chrome|Chromium|CriOS)\//.test(ua) && "Chrome") ||
    (/Safari\//.test(ua) && "Safari") ||
    "Browser";
  const platform =
    (/iPhone/.test(ua) && "iPhone") ||
    (/iPad/.test(ua) && "iPad") ||
    (/Android/.test(ua) && "Android") ||
    (/Windows/.test(ua) && "Windows") ||
    (/Mac OS X|Macintosh/.test(ua) && "Mac") ||
    (/CrOS/.test(ua) && "ChromeOS") ||
    (/Linux/.test(ua) && "Linux") ||
    "";
  return (platform ? `${browser} on ${platform}` : browser).slice(0, 100);
}

// The server's key (base64url) as the bytes pushManager.subscribe wants.
export function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (char) => char.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return false;
  const current = new Uint8Array(buffer);
  return current.length === bytes.length && current.every((value, index) => value === bytes[index]);
}

// iOS and iPadOS have Web Push only in a web app added to the home screen (16.4+).
function iosBrowserTab() {
  const ios =
    /iPad|iPhone|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  const standalone = matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  return ios && !standalone;
}

function workerSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// Register the worker on every page load (an installed app needs it, signed in or not).
export function registerWorker() {
  if (!("serviceWorker" in navigator)) return Promise.resolve(null);
  return navigator.serviceWorker
    .register("/sw.js", { scope: "/", updateViaCache: "none" })
    .catch(() => null); // e.g. plain http on another host than localhost: no push, page works
}

export class PushAlarms {
  // api: the Session (get/post/delete); worker: registerWorker()'s promise; elements: {state,
  // detail, on, off, error, hint, hintOn, hintLater}; onOpened(url): a notification was tapped
  // while this page was open.
  constructor({ api, worker, elements, onOpened }) {
    Object.assign(this, { api, worker, elements, onOpened });
    this.config = null;
    this.subscriptionId = null; // this browser's subscription at the server, once registered
    this.state = "checking";
    this.busy = false;
    this.active = false; // signed in: start() ran, stop() did not
    elements.on.addEventListener("click", () => this.turnOn());
    elements.hintOn.addEventListener("click", () => {
      this.dismissHint();
      this.turnOn();
    });
    elements.hintLater.addEventListener("click", () => this.dismissHint());
    elements.off.addEventListener("click", () => this.turnOff());
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", (event) => {
        const message = event.data || {};
        // Only a signed-in page can register the renewed subscription.
        if (message.type === "push-subscription-changed" && this.active) this.start().catch(() => {});
        if (message.type === "notification-opened") this.onOpened(message.url);
      });
    }
  }

  // After sign-in: read the server's push settings and this browser's subscription; a
  // subscription that exists is registered again for the account signed in now.
  async start() {
    this.active = true;
    this.show("checking");
    const tab = iosBrowserTab();
    if (tab || !workerSupported() || !(await this.worker)) {
      this.show(pushState({ supported: false, iosBrowserTab: tab }));
      return;
    }
    try {
      this.config = await this.api.get("/push/config");
    } catch {
      this.config = { enabled: false }; // a server without push: the page works as before
    }
    let subscribed = false;
    try {
      const subscription = await this.currentSubscription();
      if (this.config.enabled && Notification.permission === "granted" && subscription) {
        subscribed = await this.register(await this.matchingSubscription(subscription));
      }
    } catch (error) {
      this.fail(`This browser could not subscribe: ${error.message}`);
    }
    this.show(
      pushState({
        supported: true,
        iosBrowserTab: false,
        serverEnabled: this.config.enabled,
        permission: Notification.permission,
        subscribed,
      }),
    );
    const hint = this.state === "off" && Notification.permission === "default";
    this.elements.hint.hidden = !(hint && localStorage.getItem(HINT_KEY) !== "dismissed");
  }

  async currentSubscription() {
    const registration = await navigator.serviceWorker.ready;
    return registration.pushManager.getSubscription();
  }

  // A subscription made for another server key (the operator rotated it) cannot receive this
  // server's pushes: replace it (allowed without a tap once permission is granted).
  async matchingSubscription(subscription) {
    const key = keyBytes(this.config.application_server_key);
    if (sameKey(subscription.options.applicationServerKey, key)) return subscription;
    await subscription.unsubscribe();
    return this.subscribe();
  }

  async subscribe() {
    const registration = await navigator.serviceWorker.ready;
    return registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(this.config.application_server_key),
    });
  }

  // POST /push/subscriptions: the browser's subscription plus a label; true when registered.
  async register(subscription) {
    try {
      const saved = await this.api.post("/push/subscriptions", {
        ...subscription.toJSON(),
        label: deviceLabel(navigator.userAgent),
      });
      this.subscriptionId = saved.id;
      return true;
    } catch (error) {
      this.fail(`The server did not take this device: ${error.message}`);
      return false;
    }
  }

  // On a tap: ask for permission, subscribe, register.
  async turnOn() {
    if (this.busy) return;
    this.busy = true;
    this.fail("");
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        this.show(permission === "denied" ? "blocked" : "off");
        return;
      }
      let subscription;
      try {
        subscription = (await this.currentSubscription()) || (await this.subscribe());
        subscription = await this.matchingSubscription(subscription);
      } catch (error) {
        // No push service reachable (some browsers without Google services, private modes).
        this.show("off");
        this.fail(`This browser could not subscribe: ${error.message}`);
        return;
      }
      this.show((await this.register(subscription)) ? "on" : "off");
    } finally {
      this.busy = false;
    }
  }

  // "Turn off", and "Sign out" on this device: the server forgets it, the browser unsubscribes.
  async turnOff() {
    if (this.busy) return;
    this.busy = true;
    this.fail("");
    try {
      await this.forget();
      this.show(this.state === "on" ? "off" : this.state);
    } catch (error) {
      this.fail(`Could not turn alarms off: ${error.message}`);
    } finally {
      this.busy = false;
    }
  }

  async forget() {
    const id = this.subscriptionId;
    this.subscriptionId = null;
    if (id !== null) {
      // Best effort: once the browser has unsubscribed, its push service answers the server's
      // next push with 410 and the server drops the subscription by itself.
      await this.api.delete(`/push/subscriptions/${id}`).catch(() => {});
    }
    if (!workerSupported() || !(await this.worker)) return;
    const subscription = await this.currentSubscription();
    if (subscription) await subscription.unsubscribe();
  }

  dismissHint() {
    localStorage.setItem(HINT_KEY, "dismissed");
    this.elements.hint.hidden = true;
  }

  show(state) {
    this.state = state;
    const { pill, text } = STATES[state];
    this.elements.state.dataset.state = state;
    this.elements.state.textContent = pill;
    this.elements.detail.textContent = text;
    this.elements.on.hidden = state !== "off";
    this.elements.off.hidden = state !== "on";
    if (state !== "off") this.elements.hint.hidden = true;
  }

  fail(message) {
    this.elements.error.textContent = message;
  }

  // Signed out: the panel goes back to its first state; the subscription is left alone
  // unless the parent asked (forget) - a sign-in that ended must not silence the alarms.
  stop() {
    this.active = false;
    this.subscriptionId = null;
    this.elements.hint.hidden = true;
    this.show("checking");
  }
}
