// Logs: the daemon's log store (GET /v1/logs, GET /v1/logs/stream), when this daemon has
// it; a clear message otherwise.
import {getOptional, stream} from "./api.js";
import {el, time} from "./dom.js";

function text(entry) {
  if (typeof entry === "string") return entry;
  const when = entry.time_ms ? time(entry.time_ms) + " " : (entry.time ? entry.time + " " : "");
  const who = [entry.app, entry.environment || entry.env, entry.source, entry.instance].filter(Boolean).join("/");
  return when + (who ? who + " " : "") + (entry.text ?? entry.message ?? entry.line ?? JSON.stringify(entry));
}

export async function logs() {
  const data = await getOptional("/v1/logs?limit=200");
  if (data === null) {
    return [el("h1", {}, "Logs"), el("p", {class: "notice", id: "logs-unavailable"},
      "Logs are not available from this daemon (it has no /v1/logs endpoint). Use `gravity logs APP`.")];
  }
  const pre = el("pre", {class: "log", tabindex: "0", "aria-label": "logs"});
  const entries = data.lines || data.entries || data.logs || [];
  for (const e of entries) pre.append(text(e) + "\n");
  const stop = stream("/v1/logs/stream", e => {
    try { pre.append(text(JSON.parse(e.data)) + "\n"); } catch (_) { pre.append(e.data + "\n"); }
    pre.scrollTop = pre.scrollHeight;
  });
  return {nodes: [el("h1", {}, "Logs"), pre], dispose: stop};
}
