// The JSON API, with the daemon's bearer token when it needs one. The token is asked for
// once (a dialog), kept in sessionStorage for this browser session, and only ever sent in
// the Authorization header — never in a URL.
const KEY = "gravity-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra) {
  const h = Object.assign({}, extra);
  const token = sessionStorage.getItem(KEY);
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

async function errorOf(r) {
  let msg = "HTTP " + r.status;
  try {
    const j = await r.json();
    if (j && j.error) msg = j.error;
  } catch (_) { /* not JSON */ }
  return new ApiError(r.status, msg);
}

// GET, asking for the token when reads need it (an API beyond loopback).
export async function get(path) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, {cache: "no-store", headers: headers()});
    if (r.status === 401 && attempt === 0) {
      sessionStorage.removeItem(KEY);
      if (await askToken()) continue;
    }
    if (!r.ok) throw await errorOf(r);
    return r.json();
  }
}

// GET that answers null for 404 (an endpoint this daemon does not have).
export async function getOptional(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

// A call that changes something: always with the token (asked for first when there is
// none). Resolves to the JSON answer; throws ApiError (401: refused) otherwise.
export async function post(path, body) {
  if (!sessionStorage.getItem(KEY) && !(await askToken())) {
    throw new ApiError(401, "refused: no token given (this action needs the daemon's token)");
  }
  const r = await fetch(path, {
    method: "POST", cache: "no-store",
    headers: headers({"Content-Type": "application/json"}),
    body: JSON.stringify(body || {}),
  });
  if (r.status === 401) {
    sessionStorage.removeItem(KEY);
    const e = await errorOf(r);
    throw new ApiError(401, "refused: " + e.message);
  }
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

let pendingAsk = null;
// Shows the token dialog; true when a token was given.
export function askToken() {
  if (pendingAsk) return pendingAsk;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  input.value = "";
  pendingAsk = new Promise(resolve => {
    dialog.addEventListener("close", () => {
      const v = input.value.trim();
      input.value = "";
      pendingAsk = null;
      if (dialog.returnValue === "ok" && v) {
        sessionStorage.setItem(KEY, v);
        resolve(true);
      } else {
        resolve(false);
      }
    }, {once: true});
  });
  dialog.returnValue = "";
  dialog.showModal();
  input.focus();
  return pendingAsk;
}

// Server-sent events read with fetch (EventSource cannot send the Authorization header).
// Calls onEvent({event, data, id}) per event; reconnects with Last-Event-ID after a
// dropped connection until the stream says "end" or the returned stop() is called.
export function stream(path, onEvent, onState) {
  const ctl = {stopped: false, abort: null, lastId: ""};
  async function once() {
    const abort = new AbortController();
    ctl.abort = abort;
    const h = headers({"Accept": "text/event-stream"});
    if (ctl.lastId) h["Last-Event-ID"] = ctl.lastId;
    const r = await fetch(path, {headers: h, cache: "no-store", signal: abort.signal});
    if (!r.ok) throw await errorOf(r);
    if (onState) onState("open");
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let ev = {event: "message", data: [], id: ""};
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return false;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (ev.data.length) {
            if (ev.id) ctl.lastId = ev.id;
            const e = {event: ev.event, data: ev.data.join("\n"), id: ev.id};
            onEvent(e);
            if (e.event === "end") return true;
          }
          ev = {event: "message", data: [], id: ""};
          continue;
        }
        if (line.startsWith(":")) continue;  // heartbeat
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "data") ev.data.push(val);
        else if (field === "event") ev.event = val;
        else if (field === "id") ev.id = val;
      }
    }
  }
  (async () => {
    while (!ctl.stopped) {
      try {
        if (await once()) break;
      } catch (e) {
        if (ctl.stopped) break;
        if (e instanceof ApiError && e.status !== 503) {
          if (onState) onState("error", e.message);
          break;
        }
      }
      if (ctl.stopped) break;
      if (onState) onState("reconnecting");
      await new Promise(r => setTimeout(r, 1500));
    }
    if (onState && !ctl.stopped) onState("closed");
  })();
  return () => {
    ctl.stopped = true;
    if (ctl.abort) ctl.abort.abort();
  };
}
