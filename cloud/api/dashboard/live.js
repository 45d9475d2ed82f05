// The live connection: WS /ws/{user_id}, the access token sent as the first message so that it
// never appears in a URL (docs/api.md, "WebSocket").
//
// It must survive what a phone on a nightstand goes through - Wi-Fi hand-overs, sleep, server
// restarts - without anyone touching it: on any close it reconnects by itself after a growing,
// jittered delay (so a restarted server is not hit by every screen at once) and says so. The
// server sends a HEARTBEAT after 25 s of silence; hearing nothing for much longer means the
// connection is dead even if the socket has not noticed, so it is closed and reopened.
//
// The server keeps a socket only as long as its token: shortly before the token expires a fresh
// one is sent on the open socket, so no alarm falls into a reconnection. Closed with 1008 anyway
// ("token expired", "session ended" after signing out everywhere or a new password), the page is
// told and reconnects after refreshing - which fails, and signs the page out, if the sign-in ended.

const MIN_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;
const SILENCE_LIMIT_MS = 70_000;
const POLICY_VIOLATION = 1008; // the token was refused or ended
// Send the next token when this share of the current one's remaining life has passed, but no
// later than 10 s before it ends: after the session's own refresh point (api.js), before expiry.
const REAUTH_AT_SHARE = 0.9;
const REAUTH_LEAD_MS = 10_000;

export class LiveFeed {
  // token(): a fresh access token; onMessage(msg); onState(state, detail) with state one of
  // "connecting", "live", "reconnecting"; onConnected() after every successful (re)connection,
  // so the page can fetch what it missed; onTokenRefused() when the server closed with 1008.
  constructor({ userId, token, onMessage, onState, onConnected, onTokenRefused }) {
    Object.assign(this, { userId, token, onMessage, onState, onConnected, onTokenRefused });
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.silenceTimer = null;
    this.reauthTimer = null;
    this.stopped = true;
    this.wake = () => this.reconnectNow();
  }

  start() {
    this.stopped = false;
    // Back online or back in front of the user: do not wait for the backoff to run out.
    window.addEventListener("online", this.wake);
    document.addEventListener("visibilitychange", this.wake);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.wake);
    document.removeEventListener("visibilitychange", this.wake);
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    clearTimeout(this.reauthTimer);
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
  }

  reconnectNow() {
    if (this.stopped || document.visibilityState === "hidden") return;
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  async connect() {
    this.onState("connecting");
    let token;
    try {
      token = await this.token();
    } catch {
      this.retry();
      return;
    }
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/${this.userId}`);
    this.socket = socket;
    let authenticated = false;
    socket.onopen = () => {
      this.heard();
      socket.send(JSON.stringify({ action: "auth", token }));
    };
    socket.onmessage = (event) => {
      this.heard();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not ours to interpret
      }
      if (message.event === "AUTH_RESULT") {
        if (message.ok) this.scheduleReauth(socket, message.expires_at);
        if (message.ok && !authenticated) {
          authenticated = true;
          this.attempt = 0;
          this.onState("live");
          this.onConnected();
        }
        return;
      }
      this.onMessage(message);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return; // an older socket we already replaced
      clearTimeout(this.silenceTimer);
      clearTimeout(this.reauthTimer);
      this.socket = null;
      if (this.stopped) return;
      if (event.code === POLICY_VIOLATION) this.onTokenRefused();
      this.retry();
    };
  }

  // Before the server's deadline for this token, send the next one on the same socket.
  scheduleReauth(socket, expiresAt) {
    clearTimeout(this.reauthTimer);
    const remaining = Date.parse(expiresAt) - Date.now();
    if (!(remaining > 0)) return;
    const delay = Math.max(remaining * REAUTH_AT_SHARE, remaining - REAUTH_LEAD_MS);
    this.reauthTimer = setTimeout(async () => {
      let token;
      try {
        token = await this.token();
      } catch {
        return; // the server closes the socket at expiry; the reconnection sorts it out
      }
      if (socket === this.socket && socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ action: "auth", token }));
      }
    }, delay);
  }

  heard() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => this.abandon(), SILENCE_LIMIT_MS);
  }

  // A dead connection may take minutes to report its close: stop waiting for it.
  abandon() {
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(4000, "silent too long");
    this.retry();
  }

  retry() {
    if (this.stopped) return;
    const ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    this.onState("reconnecting", Math.round(delay / 1000));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
