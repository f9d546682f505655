// Logs: the daemon's log store (GET /v1/logs, GET /v1/logs/stream) for one app at a time
// (the first app, or the one chosen), the newest lines then a live tail; a clear message
// when this daemon has no log store.
import {get, getOptional, stream} from "./api.js";
import {el} from "./dom.js";

function text(entry) {
  if (typeof entry === "string") return entry;
  const when = entry.time ? entry.time + " " : "";
  const who = [entry.env, entry.source, entry.instance, (entry.release || "").slice(0, 7)]
    .filter(Boolean).join("/");
  const req = entry.request_id ? " [" + entry.request_id + "]" : "";
  return when + (who ? who + " " : "") + (entry.text ?? JSON.stringify(entry)) + req;
}

export async function logs() {
  const apps = ((await get("/v1/apps")).apps || []).map(a => a.name);
  if (apps.length === 0) return [el("h1", {}, "Logs"), el("p", {class: "notice"}, "No apps in this stack.")];
  let app = apps[0];
  const probe = await getOptional("/v1/logs?app=" + encodeURIComponent(app) + "&n=1");
  if (probe === null) {
    return [el("h1", {}, "Logs"), el("p", {class: "notice", id: "logs-unavailable"},
      "Logs are not available from this daemon (it has no /v1/logs endpoint). Use `gravity logs APP`.")];
  }
  const pre = el("pre", {class: "log", tabindex: "0", "aria-label": "logs"});
  let stop = () => {};
  async function show() {
    stop();
    pre.textContent = "";
    const data = await get("/v1/logs?app=" + encodeURIComponent(app) + "&n=200");
    let last = 0;
    for (const e of data.lines || []) {
      pre.append(text(e) + "\n");
      last = Math.max(last, e.id || 0);
    }
    // The tail: lines stored after the last one shown.
    stop = stream("/v1/logs/stream?app=" + encodeURIComponent(app) + (last ? "&after=" + last : "&n=0"), e => {
      try { pre.append(text(JSON.parse(e.data)) + "\n"); } catch (_) { pre.append(e.data + "\n"); }
      pre.scrollTop = pre.scrollHeight;
    });
  }
  const select = el("select", {id: "logs-app", "aria-label": "app"}, ...apps.map(a => el("option", {value: a}, a)));
  select.addEventListener("change", () => { app = select.value; show(); });
  await show();
  return {nodes: [el("h1", {}, "Logs"), el("label", {}, "App ", select), pre], dispose: () => stop()};
}
