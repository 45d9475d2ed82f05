// The signed-in session and every call to the API (docs/api.md).
//
// Tokens live in sessionStorage: they survive a reload of this tab but not closing it, and
// other tabs and sites never see them (the app contract says: not localStorage). The access
// token is short-lived; it is swapped for a new pair with POST /auth/refresh shortly before it
// expires and, should a call still get a 401, once more before giving up. Refresh tokens are
// single-use and a reused one revokes the whole sign-in, so only one refresh runs at a time.

const STORE_KEY = "nursery.session";
// Refresh this long before the access token expires, or after 80 % of a lifetime so short
// that a minute would be most of it (ACCESS_TOKEN_EXPIRE_MINUTES can be 1).
const REFRESH_MARGIN_MS = 60_000;

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// FastAPI answers {"detail": "text"} or, for invalid input, {"detail": [{loc, msg}, ...]}.
function describe(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => `${(item.loc || []).slice(-1)[0] || "input"}: ${item.msg}`).join("; ");
  }
  return `The server answered ${status}`;
}

function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null; // e.g. a proxy's HTML error page
  }
}

async function call(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  } catch {
    throw new ApiError(0, "The server cannot be reached right now."); // offline, restarting
  }
  const data = parse(await response.text());
  if (!response.ok) throw new ApiError(response.status, describe(data, response.status));
  return data;
}

export class Session {
  // onSignedOut(reason) is called when the sign-in ends without the user asking (refresh refused).
  constructor(onSignedOut) {
    this.onSignedOut = onSignedOut;
    this.state = null; // {access, refresh, refreshAt, user: {id, email, name}}
    this.refreshing = null;
    this.timer = null;
    try {
      this.state = JSON.parse(sessionStorage.getItem(STORE_KEY));
    } catch {
      this.state = null;
    }
    if (this.state) this.schedule();
  }

  get user() {
    return this.state ? this.state.user : null;
  }

  save(tokens, user) {
    const lifetime = (tokens.expires_in || 0) * 1000;
    this.state = {
      access: tokens.access_token,
      refresh: tokens.refresh_token,
      refreshAt: Date.now() + lifetime - Math.min(REFRESH_MARGIN_MS, lifetime * 0.2),
      user,
    };
    sessionStorage.setItem(STORE_KEY, JSON.stringify(this.state));
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    const wait = Math.max(0, this.state.refreshAt - Date.now());
    this.timer = setTimeout(() => this.refresh().catch(() => {}), wait);
  }

  async signIn(email, password) {
    const login = await call("POST", "/auth/login", { body: { email, password } });
    this.save(login, login.user);
  }

  async register(name, email, password) {
    await call("POST", "/auth/register", { body: { email, password, name: name || null } });
    await this.signIn(email, password);
  }

  // The user asked: end this sign-in on the server too (its refresh family stops working).
  async signOut() {
    const refresh = this.state && this.state.refresh;
    this.clear();
    if (refresh) await call("POST", "/auth/logout", { body: { refresh_token: refresh } }).catch(() => {});
  }

  clear() {
    clearTimeout(this.timer);
    this.state = null;
    sessionStorage.removeItem(STORE_KEY);
  }

  // One refresh at a time: concurrent callers share it.
  refresh() {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async doRefresh() {
    if (!this.state) throw new ApiError(401, "Not signed in");
    const user = this.state.user;
    try {
      const tokens = await call("POST", "/auth/refresh", { body: { refresh_token: this.state.refresh } });
      if (this.state) this.save(tokens, user);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.clear();
        this.onSignedOut("Your sign-in has ended; please sign in again.");
      }
      throw error;
    }
  }

  // A valid access token, refreshed first when it is about to expire (timers sleep on phones).
  async accessToken() {
    if (this.refreshing) await this.refreshing.catch(() => {});
    if (!this.state) throw new ApiError(401, "Not signed in");
    if (Date.now() >= this.state.refreshAt) await this.refresh();
    return this.state.access;
  }

  async request(method, path, body) {
    const token = await this.accessToken();
    try {
      return await call(method, path, { token, body });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      // The token may have been refused for being stale (a sleeping tab, a server restart with
      // the same secret): refresh once and try again.
      await this.refresh();
      return call(method, path, { token: this.state.access, body });
    }
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body) {
    return this.request("POST", path, body === undefined ? {} : body);
  }

  put(path, body) {
    return this.request("PUT", path, body);
  }

  delete(path) {
    return this.request("DELETE", path);
  }
}
